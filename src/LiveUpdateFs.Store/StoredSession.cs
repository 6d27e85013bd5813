namespace LiveUpdateFs.Store;

/// <summary>One preserved session. The name is arbitrary bytes and lives only
/// in the manifest, never in a path.</summary>
public sealed class StoredSession(ReadOnlyMemory<byte> name, IReadOnlyList<StoredFile> files)
{
    public ReadOnlyMemory<byte> Name { get; } = name;

    public IReadOnlyList<StoredFile> Files { get; } = files;
}
