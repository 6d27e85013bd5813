using LiveUpdateFs.Core.Sessions;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Dispatch;

/// <summary>
/// Runs one LUO ioctl as the kernel does: generic decoding (docs/behaviour.md §2), then
/// the command (docs/behaviour.md §4), then the write-back.
/// </summary>
public sealed class LuoDispatcher(Orchestrator orchestrator, LuoBehaviour behaviour)
{
    private readonly LuoCommandTable _table = new(behaviour);

    /// <summary>The zero tail <see cref="Dispatch"/> would check for this
    /// request (see <see cref="IoctlDecoder.DeclaredTail"/>), or null.</summary>
    public (ulong Start, ulong Length)? DeclaredTail(Session? session, uint request, ulong argument, ICallerMemory memory) =>
        IoctlDecoder.DeclaredTail(_table, KindOf(session), request, argument, memory);

    private static LuoFileKind KindOf(Session? session) => session is null ? LuoFileKind.Device
        : session.Kind == SessionKind.Outgoing ? LuoFileKind.OutgoingSession : LuoFileKind.IncomingSession;

    /// <param name="session">The session the fd belongs to; null for the device.</param>
    public IoctlOutcome Dispatch(Session? session, uint request, ulong argument, RequestContext context)
    {
        if (orchestrator.Frozen)
            return IoctlOutcome.Done(Errno.EBUSY); // the FUSE layer holds such requests; this is the core's own guard
        LuoFileKind kind = KindOf(session);

        Errno decoded = IoctlDecoder.Decode(_table, kind, request, argument, context.Memory, out DecodedRequest? req);
        if (decoded.IsError)
            return IoctlOutcome.Done(decoded);

        return req!.Command.Request switch
        {
            LuoRequest.CreateSession => SessionFd(req, context, orchestrator.CreateSession),
            LuoRequest.RetrieveSession => SessionFd(req, context, orchestrator.RetrieveSession),
            LuoRequest.PreserveFd => PreserveFd(session!, req, context),
            LuoRequest.RetrieveFd => RetrieveFd(session!, req, context),
            LuoRequest.Finish => Finish(session!, req, context),
            LuoRequest.GetName => GetName(session!, req, context),
            _ => throw new InvalidOperationException($"no command for {req.Command.Name}"),
        };
    }

    private delegate Errno SessionCommand(ReadOnlySpan<byte> nameField, out Session? session);

    /// <summary>CREATE_SESSION and RETRIEVE_SESSION: reserve the fd (step 1),
    /// run the command, leave the fd to be installed.</summary>
    private IoctlOutcome SessionFd(DecodedRequest req, RequestContext context, SessionCommand command)
    {
        Errno reserved = context.Reservation.Reserve();
        if (reserved.IsError)
            return IoctlOutcome.Done(reserved, req);
        Errno done = command(LuoStructs.NameField(req.Struct), out Session? session);
        if (done.IsError)
            return IoctlOutcome.Done(done, req);
        return new IoctlOutcome(Errno.None, new PendingSessionFd(req, session!, orchestrator), req);
    }

    private IoctlOutcome PreserveFd(Session session, DecodedRequest req, RequestContext context)
    {
        Errno preserved = orchestrator.Preserve(session, LuoStructs.ReadToken(req.Struct), LuoStructs.ReadFd(req.Struct), context.Files);
        if (preserved.IsError)
            return IoctlOutcome.Done(preserved, req);
        // A failed write-back is EFAULT, but the file stays preserved (docs/behaviour.md §4.3 step 10).
        return IoctlOutcome.Done(req.WriteBack(context.Memory) ? Errno.None : Errno.EFAULT, req);
    }

    private IoctlOutcome RetrieveFd(Session session, DecodedRequest req, RequestContext context)
    {
        Errno reserved = context.Reservation.Reserve();
        if (reserved.IsError)
            return IoctlOutcome.Done(reserved, req);
        ulong token = LuoStructs.ReadToken(req.Struct);
        if (orchestrator.SlowRestore(session, token) is { } slow)
            return IoctlOutcome.After(slow.PrepareRestore, req);
        Errno retrieved = orchestrator.RetrieveFile(session, token, out var file);
        if (retrieved.IsError)
            return IoctlOutcome.Done(retrieved, req);
        return new IoctlOutcome(Errno.None, new PendingRetrievedFile(req, file!), req);
    }

    private IoctlOutcome Finish(Session session, DecodedRequest req, RequestContext context)
    {
        if (behaviour.FinishChecksReserved && LuoStructs.ReadReserved(req.Struct) != 0)
            return IoctlOutcome.Done(Errno.EINVAL, req);
        orchestrator.Finish(session);
        return IoctlOutcome.Done(req.WriteBack(context.Memory) ? Errno.None : Errno.EFAULT, req);
    }

    private static IoctlOutcome GetName(Session session, DecodedRequest req, RequestContext context)
    {
        if (LuoStructs.ReadReserved(req.Struct) != 0)
            return IoctlOutcome.Done(Errno.EINVAL, req);
        session.Name.CopyTo(req.Struct.AsSpan(LuoStructs.GetNameNameOffset, LuoRequest.SessionNameLength));
        return IoctlOutcome.Done(req.WriteBack(context.Memory) ? Errno.None : Errno.EFAULT, req);
    }
}
