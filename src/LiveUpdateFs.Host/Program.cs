using System.CommandLine;
using LiveUpdateFs.Host;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

return Cli.Build().Parse(args).Invoke();
