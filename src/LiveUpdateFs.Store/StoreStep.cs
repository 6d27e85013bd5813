namespace LiveUpdateFs.Store;

/// <summary>The checkpoint names, in the order a generation is written, then
/// those of the next boot's first open of the device.</summary>
public static class StoreStep
{
    public const string ContentWrite = "content-write";
    public const string ContentFsync = "content-fsync";
    public const string ManifestWrite = "manifest-write";
    public const string GenerationFsync = "generation-fsync";
    public const string StoreFsync = "store-fsync";
    public const string PointerWrite = "pointer-write";
    public const string PointerRename = "pointer-rename";
    public const string PointerFsync = "pointer-fsync";
    public const string Cleanup = "cleanup";
    public const string Load = "load";
    public const string ConsumedWrite = "consumed-write";
}
