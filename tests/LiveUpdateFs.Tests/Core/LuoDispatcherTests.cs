using LiveUpdateFs.Core.Dispatch;
using LiveUpdateFs.Core.Files;
using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Tests.Fakes;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Tests.Core;

/// <summary>Whole requests through <see cref="LuoDispatcher"/>: decoding (docs/behaviour.md §2),
/// the command (docs/behaviour.md §4) and the write-back, against fake caller memory and files.</summary>
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public class LuoDispatcherTests
{
    private readonly FakeCallerMemory _memory = new();
    private readonly OrchestratorHarness _h = new();
    private ulong _nextArgument = 0x10_0000;

    private static readonly IFdReservation Reserved = new KnownFdReservation(Errno.None);

    /// <summary>Maps <paramref name="args"/> at a fresh address and dispatches the request there.</summary>
    private IoctlOutcome Call(Session? session, uint request, byte[] args, IFdReservation? reservation = null,
        LuoBehaviour? behaviour = null, bool readOnly = false)
    {
        ulong argument = _nextArgument;
        _nextArgument += 0x10_0000;
        _memory.Map(argument, args, readOnly);
        var dispatcher = new LuoDispatcher(_h.Luo, behaviour ?? LuoBehaviour.Reference);
        return dispatcher.Dispatch(session, request, argument, new RequestContext(_memory, _h.Files, reservation ?? Reserved));
    }

    private byte[] WrittenBack => _memory.Writes.Single().Data;

    // ---- CREATE_SESSION (docs/behaviour.md §4.1) ----

    [Test]
    [Description("docs/behaviour.md §4.1 step 1: without the preload library no fd can be reserved: EOPNOTSUPP, nothing written or created")]
    public void CREATE_SESSION_without_the_library_is_EOPNOTSUPP()
    {
        IoctlOutcome outcome = Call(null, LuoRequest.CreateSession, Structs.Session("s"), NoFdReservation.Instance);

        Assert.That(outcome.Result, Is.EqualTo(Errno.EOPNOTSUPP));
        Assert.That(outcome.Pending, Is.Null);
        Assert.That(_memory.Writes, Is.Empty);
        Assert.That(_h.Luo.Snapshot().Sessions, Is.Empty);
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 1: the fd reservation comes first, so EMFILE wins even over an empty name")]
    public void CREATE_SESSION_EMFILE_wins_over_an_empty_name() =>
        Assert.That(Call(null, LuoRequest.CreateSession, Structs.Session(""), new KnownFdReservation(Errno.EMFILE)).Result,
            Is.EqualTo(Errno.EMFILE));

    [Test]
    [Description("docs/behaviour.md §4.1: a create waits for its fd: the outcome holds the new outgoing session, nothing is written yet")]
    public void CREATE_SESSION_returns_a_pending_session_fd()
    {
        IoctlOutcome outcome = Call(null, LuoRequest.CreateSession, Structs.Session("new"));

        Assert.That(outcome.Result, Is.EqualTo(Errno.None));
        Assert.That(outcome.Pending, Is.TypeOf<PendingSessionFd>());
        Assert.That(outcome.Pending!.Session!.Name.ToString(), Is.EqualTo("new"));
        Assert.That(outcome.Pending.Session.Kind, Is.EqualTo(SessionKind.Outgoing));
        Assert.That(_memory.Writes, Is.Empty);
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 7, §2.1 step 6: completing writes the fd at offset 4 and writes back 72 bytes, even for a larger struct")]
    public void CREATE_SESSION_completion_writes_the_fd_back()
    {
        byte[] args = Structs.Session("new", size: 80);
        PendingFd pending = Call(null, LuoRequest.CreateSession, args).Pending!;

        Assert.That(pending.Complete(42, _memory), Is.EqualTo(Errno.None));
        Assert.That(WrittenBack, Has.Length.EqualTo(72));
        Assert.That(Structs.ReadInt32(args, 4), Is.EqualTo(42));
        Assert.That(Structs.ReadInt32(args, 0), Is.EqualTo(80), "size is written back unchanged");
        Assert.That(Structs.ReadName(args), Is.EqualTo("new"));
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 7: a write-back into read-only memory is EFAULT")]
    public void CREATE_SESSION_completion_into_a_read_only_struct_is_EFAULT()
    {
        PendingFd pending = Call(null, LuoRequest.CreateSession, Structs.Session("ro"), readOnly: true).Pending!;

        Assert.That(pending.Complete(42, _memory), Is.EqualTo(Errno.EFAULT));
    }

    [Test]
    [Description("docs/behaviour.md §4.1 step 7: a create whose fd is never installed is undone; the name is free again")]
    public void CREATE_SESSION_abort_removes_the_session()
    {
        Call(null, LuoRequest.CreateSession, Structs.Session("gone")).Pending!.Abort();

        Assert.That(_h.Luo.Snapshot().Sessions, Is.Empty);
        Assert.That(Call(null, LuoRequest.CreateSession, Structs.Session("gone")).Result, Is.EqualTo(Errno.None));
    }

    // ---- RETRIEVE_SESSION (docs/behaviour.md §4.2) ----

    [Test]
    [Description("docs/behaviour.md §4.2: retrieve finds the incoming session by the name at offset 8")]
    public void RETRIEVE_SESSION_returns_the_incoming_session()
    {
        Session incoming = _h.AddIncoming("old");

        Assert.That(Call(null, LuoRequest.RetrieveSession, Structs.Session("old")).Pending!.Session, Is.SameAs(incoming));
    }

    // ---- PRESERVE_FD (docs/behaviour.md §4.3) ----

    [Test]
    [Description("docs/behaviour.md §4.3: preserve reads fd and token from the struct and writes back 16 bytes")]
    public void PRESERVE_FD_preserves_the_fd_under_its_token()
    {
        Session session = _h.Create("s");
        int fd = _h.Files.Open(Facts.Memfd(1));

        Assert.That(Call(session, LuoRequest.PreserveFd, Structs.File(fd, 0x1122334455667788)).Result, Is.EqualTo(Errno.None));
        Assert.That(session.Preserved.Single().Token, Is.EqualTo(0x1122334455667788ul));
        Assert.That(WrittenBack, Has.Length.EqualTo(16));
    }

    [Test]
    [Description("docs/behaviour.md §4.3 step 10: a failed write-back is EFAULT but the file stays preserved (the token is taken)")]
    public void PRESERVE_FD_write_back_failure_is_EFAULT_but_keeps_the_file()
    {
        Session session = _h.Create("s");
        int fd = _h.Files.Open(Facts.Memfd(1));

        Assert.That(Call(session, LuoRequest.PreserveFd, Structs.File(fd, 5), readOnly: true).Result, Is.EqualTo(Errno.EFAULT));
        Assert.That(_h.Luo.IsFrozen(Facts.Memfd(1).Identity), Is.True);
        Assert.That(Call(session, LuoRequest.PreserveFd, Structs.File(fd, 5)).Result, Is.EqualTo(Errno.EEXIST));
    }

    [Test]
    [Description("docs/behaviour.md §2.2 step 4: the dispatcher types the session fd: PRESERVE on an incoming session is EINVAL")]
    public void PRESERVE_FD_on_an_incoming_session_is_EINVAL()
    {
        int fd = _h.Files.Open(Facts.Memfd(1));

        Assert.That(Call(_h.Incoming("in"), LuoRequest.PreserveFd, Structs.File(fd, 1)).Result, Is.EqualTo(Errno.EINVAL));
        Assert.That(_h.Files.Taken, Is.Empty);
    }

    // ---- RETRIEVE_FD (docs/behaviour.md §4.4) ----

    [Test]
    [Description("docs/behaviour.md §4.4: retrieve waits for its fd with the restored file; completing writes back 16 bytes")]
    public void RETRIEVE_FD_returns_a_pending_file()
    {
        var source = new FakeRestorableFile(Facts.Memfd(1));
        Session session = _h.Incoming("in", (7, source));
        byte[] args = Structs.File(-1, 7);

        PendingFd pending = Call(session, LuoRequest.RetrieveFd, args).Pending!;

        Assert.That(pending.File, Is.SameAs(source.Restored.Single()));
        Assert.That(pending.Complete(9, _memory), Is.EqualTo(Errno.None));
        Assert.That(Structs.ReadInt32(args, 4), Is.EqualTo(9));
        Assert.That(WrittenBack, Has.Length.EqualTo(16));
    }

    [Test]
    [Description("a slow restore (a copy out of the store) is asked for first, with nothing changed; dispatched again after it ran, the retrieve completes")]
    public void RETRIEVE_FD_of_a_slow_restore_asks_for_it_first()
    {
        var source = new FakeRestorableFile(Facts.Memfd(1)) { Slow = true };
        Session session = _h.Incoming("in", (7, source));
        var dispatcher = new LuoDispatcher(_h.Luo, LuoBehaviour.Reference);
        _memory.Map(0x90_0000, Structs.File(-1, 7));
        var context = new RequestContext(_memory, _h.Files, Reserved);

        IoctlOutcome first = dispatcher.Dispatch(session, LuoRequest.RetrieveFd, 0x90_0000, context);
        Assert.That(first.WorkFirst, Is.Not.Null);
        Assert.That((first.Result, first.Pending, source.RestoreCalls, _memory.Writes.Count), Is.EqualTo((Errno.None, (PendingFd?)null, 0, 0)));

        first.WorkFirst!();
        IoctlOutcome second = dispatcher.Dispatch(session, LuoRequest.RetrieveFd, 0x90_0000, context);
        Assert.That(second.WorkFirst, Is.Null);
        Assert.That(second.Pending!.File, Is.SameAs(source.Restored.Single()));
    }

    // ---- GET_NAME (docs/behaviour.md §4.6) ----

    [Test]
    [Description("docs/behaviour.md §2.3, §4.6 step 2: GET_NAME with reserved != 0 is EINVAL and writes nothing")]
    public void GET_NAME_with_a_non_zero_reserved_field_is_EINVAL()
    {
        Assert.That(Call(_h.Create("s"), LuoRequest.GetName, Structs.GetName(reserved: 1)).Result, Is.EqualTo(Errno.EINVAL));
        Assert.That(_memory.Writes, Is.Empty);
    }

    [Test]
    [Description("docs/behaviour.md §4.6 step 3: only the name and its NUL are written; the rest of the caller's name field is echoed back")]
    public void GET_NAME_writes_the_name_and_NUL_and_echoes_the_rest()
    {
        byte[] args = Structs.GetName();
        args.AsSpan(8).Fill(0xAA);

        Assert.That(Call(_h.Create("abc"), LuoRequest.GetName, args).Result, Is.EqualTo(Errno.None));
        Assert.That(WrittenBack, Has.Length.EqualTo(72));
        Assert.That(args[8..12], Is.EqualTo("abc\0"u8.ToArray()));
        Assert.That(args[12..], Is.All.EqualTo((byte)0xAA));
    }

    [Test]
    [Description("docs/behaviour.md §4.6: GET_NAME works on an incoming session too")]
    public void GET_NAME_on_an_incoming_session_returns_its_name()
    {
        byte[] args = Structs.GetName();

        Assert.That(Call(_h.Incoming("old"), LuoRequest.GetName, args).Result, Is.EqualTo(Errno.None));
        Assert.That(Structs.ReadName(args), Is.EqualTo("old"));
    }

    [Test]
    [Description("docs/behaviour.md §4.6: before [GN-fix], a 16-byte GET_NAME returns the first 8 name bytes, unterminated")]
    public void GET_NAME_without_GN_fix_of_size_16_returns_a_truncated_name()
    {
        byte[] args = Structs.GetName(size: 16)[..16];

        IoctlOutcome outcome = Call(_h.Create("longer-name"), LuoRequest.GetName, args, behaviour: new LuoBehaviour { GetNameFix = false });

        Assert.That(outcome.Result, Is.EqualTo(Errno.None));
        Assert.That(WrittenBack, Has.Length.EqualTo(16));
        Assert.That(args[8..], Is.EqualTo("longer-n"u8.ToArray()));
    }

    // ---- FINISH (docs/behaviour.md §4.5) ----

    [Test]
    [Description("docs/behaviour.md §2.3, §4.5 step 2: [v7.2] does not check FINISH's reserved field: the finish is done")]
    public void FINISH_with_a_non_zero_reserved_field_is_accepted_by_default()
    {
        var source = new FakeRestorableFile(Facts.Memfd(1));

        Assert.That(Call(_h.Incoming("in", (1, source)), LuoRequest.Finish, Structs.Finish(reserved: 3)).Result, Is.EqualTo(Errno.None));
        Assert.That(source.DiscardCalls, Is.EqualTo(1));
    }

    [Test]
    [Description("docs/behaviour.md §2.3, §4.5 step 2: with [FIN-fix], a non-zero reserved field is EINVAL and nothing is finished")]
    public void FINISH_with_FIN_fix_and_a_non_zero_reserved_field_is_EINVAL_and_finishes_nothing()
    {
        var source = new FakeRestorableFile(Facts.Memfd(1));
        Session session = _h.Incoming("in", (1, source));

        IoctlOutcome outcome = Call(session, LuoRequest.Finish, Structs.Finish(reserved: 3), behaviour: new LuoBehaviour { FinishChecksReserved = true });

        Assert.That(outcome.Result, Is.EqualTo(Errno.EINVAL));
        Assert.That(source.DiscardCalls, Is.Zero);
        Assert.That(_h.Luo.RetrieveFile(session, 1, out _), Is.EqualTo(Errno.None));
    }

    [Test]
    [Description("docs/behaviour.md §4.5 step 5, §2.2 step 8: FINISH writes back its 8-byte struct, even from a larger one")]
    public void FINISH_writes_back_8_bytes()
    {
        Assert.That(Call(_h.Incoming("in"), LuoRequest.Finish, Structs.Finish(size: 24)).Result, Is.EqualTo(Errno.None));
        Assert.That(WrittenBack, Has.Length.EqualTo(8));
    }
}
