"""The contract between reglink's parts and the services around it.

Nothing here imports the rest of reglink: a publisher or a subscriber can depend on
this package alone.
"""
