namespace LiveUpdateFs.Store;

/// <summary>The store's committed state cannot be read back (damaged commit
/// pointer or manifest). Carries the bad file and what the operator can do:
/// the daemon must not guess at a state it cannot trust.</summary>
public sealed class StoreCorruptException(string file, string problem)
    : IOException($"persistence store file {file} is damaged: {problem}. The preserved sessions cannot be trusted; "
        + "move the store directory aside (the daemon then starts with no preserved sessions) or restore it from a backup.")
{
    public string FilePath { get; } = file;
}
