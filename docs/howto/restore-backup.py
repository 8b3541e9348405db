"""Put back every file of one mailconf backup: python restore-backup.py [--root DIR] BACKUP_DIR

Run it as root with the Python mailconf is installed for (installed with pipx as the install
page says: /opt/pipx/venvs/mailconf/bin/python). BACKUP_DIR is a directory under
/var/backups/mailconf/, as apply's last line names it; each file gets back its bytes, mode and
owner, and a file the apply created is removed.
"""

import argparse

from mailconf.system.backup import BackupSet
from mailconf.system.root import SystemRoot

parser = argparse.ArgumentParser()
parser.add_argument("--root", default="/", help="the system tree (default: this system)")
parser.add_argument("backup", help="/var/backups/mailconf/<UTC time>-<pid>")
args = parser.parse_args()

root = SystemRoot(args.root)
backup = BackupSet.open(root, root.resolve(args.backup))
for path in backup.restore():
    print("restored", path)
