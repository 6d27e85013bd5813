namespace LiveUpdateFs.Fuse.OpenFiles;

/// <summary>The device node: the single opener's LUO requests.</summary>
internal sealed record DeviceFile : OpenFile;
