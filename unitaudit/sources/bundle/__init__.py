"""Evidence collected on another machine: a unitaudit bundle (`unitaudit collect`) or a sos report.

    extract   a bundle file or directory opened safely: every member checked, nothing written
              outside a temporary directory, the manifest's hashes and schema checked
    sos       what a sos report holds, mapped onto the evidence a scan reads
"""
