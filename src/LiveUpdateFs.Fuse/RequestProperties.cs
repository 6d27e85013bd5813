using Serilog.Core;
using Serilog.Events;

namespace LiveUpdateFs.Fuse;

/// <summary>The caller's pid and the request's name on every log line of
/// the request. One LogContext push for both, where two PushProperty calls
/// cost two ExecutionContext changes and their allocations on every ioctl;
/// the properties themselves are made only when a line is written.</summary>
internal sealed class RequestProperties(int pid, string request) : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        // Request first, then Pid: the order the two nested pushes gave.
        logEvent.AddPropertyIfAbsent(new LogEventProperty("Request", new ScalarValue(request)));
        logEvent.AddPropertyIfAbsent(new LogEventProperty("Pid", new ScalarValue(pid)));
    }
}
