"""The outbound HTTP stack: the guard, the guarded client, the registry v2 client and its
auth, and the errors they raise. Handlers use it; it knows nothing of the store."""
