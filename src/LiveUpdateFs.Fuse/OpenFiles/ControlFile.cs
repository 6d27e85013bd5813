namespace LiveUpdateFs.Fuse.OpenFiles;

/// <summary>The control node: the library's frozen-size query and the reboot command's requests.</summary>
internal sealed record ControlFile : OpenFile;
