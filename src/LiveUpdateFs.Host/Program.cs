using System.CommandLine;
using LiveUpdateFs.Host.Commands;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// Exit codes: 0 done, 1 the operation failed (the message says why and what
// to do), 2 the command line or the machine is not usable as given.
ParseResult parsed = Cli.Build().Parse(args);
int status = parsed.Invoke();
return parsed.Errors.Count > 0 ? 2 : status;
