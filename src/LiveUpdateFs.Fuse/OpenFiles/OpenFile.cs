namespace LiveUpdateFs.Fuse.OpenFiles;

/// <summary>What one FUSE file handle is open on; each node kind does its
/// own job only (docs/behaviour.md §11).</summary>
internal abstract record OpenFile;
