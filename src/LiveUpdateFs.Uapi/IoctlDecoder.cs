using System.Buffers.Binary;

namespace LiveUpdateFs.Uapi;

/// <summary>
/// The generic part of luo_ioctl / luo_session_ioctl (docs/behaviour.md §2.1, §2.2), in the
/// kernel's order, because the order decides which errno wins.
/// </summary>
public static class IoctlDecoder
{
    /// <summary>x86_64 USER_PTR_MAX with 4-level paging: access_ok fails past it.</summary>
    public const ulong UserAddressLimit = 0x0000_7fff_ffff_f000;

    private const int ScanChunk = 64 * 1024;

    public static Errno Decode(LuoCommandTable table, LuoFileKind kind, uint request, ulong argument,
        ICallerMemory memory, out DecodedRequest? decoded)
    {
        decoded = null;

        // 1. Unknown nr: EINVAL before any user memory is touched.
        LuoCommand? command = table.Find(kind, LuoRequest.Nr(request));
        if (command is null)
            return Errno.EINVAL;

        // 2. get_user(user_size). Every read of the caller's memory is a
        //    process_vm_readv (~2 us here), so the known part is read in the
        //    same call, ahead of the kernel's order: when all of it is
        //    readable, the size word is too, and step 6 has nothing left to
        //    copy. When it is not, the exact sequence below decides the errno.
        var kernelCopy = new byte[Math.Max(command.KnownSize, command.StructSize)];
        bool haveKnown = memory.Read(argument, kernelCopy.AsSpan(0, command.KnownSize)) == command.KnownSize;
        uint userSize;
        if (haveKnown)
        {
            userSize = BinaryPrimitives.ReadUInt32LittleEndian(kernelCopy);
        }
        else
        {
            Span<byte> sizeWord = stackalloc byte[4];
            if (memory.Read(argument, sizeWord) != 4)
                return Errno.EFAULT;
            userSize = BinaryPrimitives.ReadUInt32LittleEndian(sizeWord);
        }

        // 3. The full request value must match: other type bytes or _IOWR
        //    encodings are -ENOIOCTLCMD, which the VFS reports as ENOTTY.
        if (request != command.Request)
            return Errno.ENOTTY;

        // 4. [v7.2] Session typing comes before the size check.
        if (!command.IsAllowedOn(kind))
            return Errno.EINVAL;

        // 5. Too small for the command.
        if (userSize < (uint)command.MinSize)
            return Errno.EINVAL;

        // 6. copy_struct_from_user: a larger struct needs an all-zero tail,
        //    scanned before the known part is copied.
        if (userSize > (uint)command.KnownSize)
        {
            Errno tail = CheckZeroedTail(memory, argument + (ulong)command.KnownSize, userSize - (uint)command.KnownSize);
            if (tail.IsError)
                return tail;
        }

        // (The known part: already copied when step 2 could read all of it.)
        if (!haveKnown && memory.Read(argument, kernelCopy.AsSpan(0, command.KnownSize)) != command.KnownSize)
            return Errno.EFAULT;

        decoded = new DecodedRequest(command, argument, userSize, kernelCopy);
        return Errno.None;
    }

    /// <summary>
    /// The tail <see cref="Decode"/> would scan for zeros (step 6), found
    /// without side effects: null when decoding stops earlier or the struct
    /// has no tail. Lets a long scan run away from the request thread first.
    /// </summary>
    public static (ulong Start, ulong Length)? DeclaredTail(LuoCommandTable table, LuoFileKind kind, uint request, ulong argument, ICallerMemory memory)
    {
        LuoCommand? command = table.Find(kind, LuoRequest.Nr(request));
        if (command is null || request != command.Request || !command.IsAllowedOn(kind))
            return null;
        Span<byte> sizeWord = stackalloc byte[4];
        if (memory.Read(argument, sizeWord) != 4)
            return null;
        uint userSize = BinaryPrimitives.ReadUInt32LittleEndian(sizeWord);
        if (userSize < (uint)command.MinSize || userSize <= (uint)command.KnownSize)
            return null;
        return (argument + (ulong)command.KnownSize, userSize - (uint)command.KnownSize);
    }

    /// <summary>check_zeroed_user: E2BIG at the first non-zero byte, EFAULT at
    /// the first unreadable one or for a range that is not a user range at all.</summary>
    public static Errno CheckZeroedTail(ICallerMemory memory, ulong start, ulong length)
    {
        ulong end = start + length;
        if (end < start || end > UserAddressLimit)
            return Errno.EFAULT;

        byte[] chunk = new byte[(int)Math.Min(length, ScanChunk)];
        for (ulong at = start; at < end;)
        {
            int want = (int)Math.Min(end - at, (ulong)chunk.Length);
            int got = memory.Read(at, chunk.AsSpan(0, want));
            if (chunk.AsSpan(0, got).ContainsAnyExcept((byte)0))
                return Errno.E2BIG;
            if (got < want)
                return Errno.EFAULT;
            at += (ulong)got;
        }
        return Errno.None;
    }
}
