"""Everything that talks to Label Studio: the SDK client, the local server, sync and pull."""
