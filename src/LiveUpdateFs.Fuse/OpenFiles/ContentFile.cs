namespace LiveUpdateFs.Fuse.OpenFiles;

/// <summary>A read-only file whose content was made at open (status.json, the daemon's pid).</summary>
internal sealed record ContentFile(byte[] Content) : OpenFile;
