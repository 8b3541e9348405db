"""OpenDKIM and OpenDMARC: conf files, data sets, /etc/default, lint."""
