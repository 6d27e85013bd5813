using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;
using Serilog;
using Serilog.Events;

namespace LiveUpdateFs.Fuse;

/// <summary>The debug trace: every request with its decoded struct (as
/// written back, where it was) and its result.</summary>
internal static class RequestTrace
{
    public static void Write(ILogger log, uint request, Session? session, IoctlOutcome outcome)
    {
        if (!log.IsEnabled(LogEventLevel.Debug))
            return;
        log.Debug("{Request:l} on {File:l} {Struct:l} -> {Result:l}", LuoRequest.NameOf(request),
            session is null ? "/dev/liveupdate" : $"session {session.Name}",
            outcome.Request is { } decoded ? LuoStructs.Describe(decoded) : "(not decoded)", outcome.Result.Name);
    }
}
