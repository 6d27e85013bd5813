using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Reboot;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;
using Serilog.Core;

namespace LiveUpdateFs.Tests.Core;

/// <summary>An orchestrator (with the memfd handler unless told otherwise), the
/// caller's fd table, and short forms of the common steps.</summary>
internal sealed class OrchestratorHarness
{
    public OrchestratorHarness(params IFileHandler[] handlers) =>
        Luo = new Orchestrator(handlers.Length > 0 ? handlers : [new MemfdHandler()], Logger.None);

    public Orchestrator Luo { get; }

    public FakeCallerFiles Files { get; } = new();

    public Errno Create(string name, out Session? session) => Luo.CreateSession(Structs.NameField(name), out session);

    /// <summary>Creates an outgoing session that must succeed, and hands its fd to its creator.</summary>
    public Session Create(string name)
    {
        Assert.That(Create(name, out Session? session), Is.EqualTo(Errno.None), $"create {name}");
        Luo.SessionHeld(session!);
        return session!;
    }

    /// <summary>Opens a caller fd for <paramref name="facts"/> and preserves it.</summary>
    public Errno Preserve(Session session, ulong token, FileFacts facts) =>
        Luo.Preserve(session, token, Files.Open(facts), Files);

    /// <summary>The reference taken by the last Preserve.</summary>
    public FakeHeldFile LastTaken => Files.Taken[^1];

    public Session AddIncoming(string name, params (ulong Token, FakeRestorableFile Source)[] files) =>
        Luo.AddIncoming(new IncomingSessionImage(SessionName.FromString(name),
            files.Select(f => new IncomingFileImage(f.Token, "memfd-v2", f.Source)).ToList()));

    public Errno Retrieve(string name, out Session? session) => Luo.RetrieveSession(Structs.NameField(name), out session);

    /// <summary>Retrieves an incoming session that must succeed.</summary>
    public Session Retrieve(string name)
    {
        Assert.That(Retrieve(name, out Session? session), Is.EqualTo(Errno.None), $"retrieve {name}");
        return session!;
    }

    /// <summary>Adds an incoming session and retrieves it.</summary>
    public Session Incoming(string name, params (ulong Token, FakeRestorableFile Source)[] files)
    {
        AddIncoming(name, files);
        return Retrieve(name);
    }
}
