using System.Text.Json.Serialization;

namespace LiveUpdateFs.Fuse.Status;

/// <summary>One session in status.json.</summary>
/// <param name="Kind">outgoing or incoming.</param>
/// <param name="Node">The per-session node its fd is open on: it names the
/// fd in /proc/PID/fd, so `status` finds its holders by it (null: no fd open).</param>
/// <param name="Holders">Pids holding its fd (`status` only).</param>
public sealed record StatusSession(long Id, string Name, string Kind, string? Node, IReadOnlyList<StatusFile> Files,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<int>? Holders = null);
