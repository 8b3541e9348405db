"""The lossless syntax core shared by every file kind (grammar loading, tree, parse driver)."""

from mailconf.syntax.document import Document, Entry
from mailconf.syntax.kinds import KINDS, document_type, infer_kind

__all__ = ["KINDS", "Document", "Entry", "document_type", "infer_kind"]
