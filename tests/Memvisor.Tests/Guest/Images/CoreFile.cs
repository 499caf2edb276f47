using System.Buffers.Binary;

namespace Memvisor.Tests.Guest.Images;

/// <summary>Writes ELF64 core files the way QEMU's dump-guest-memory lays them out: header, program headers, one PT_NOTE, then each PT_LOAD's bytes.</summary>
internal static class CoreFile
{
    private const int Page = 4096, HeaderSize = 64, PhdrSize = 56, NoteSize = 20;

    /// <summary>A core with one PT_LOAD per segment: its bytes (any length) at guest frame <c>Gfn</c>.</summary>
    public static byte[] Build(IReadOnlyList<(ulong Gfn, byte[] Bytes)> segments)
    {
        int phnum = segments.Count + 1;
        long data = HeaderSize + phnum * PhdrSize + NoteSize;
        long size = data + segments.Sum(s => (long)s.Bytes.Length);
        var f = new byte[size];
        f[0] = 0x7F; f[1] = (byte)'E'; f[2] = (byte)'L'; f[3] = (byte)'F';
        f[4] = 2; f[5] = 1; f[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(16), 4);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(18), 62);
        BinaryPrimitives.WriteUInt64LittleEndian(f.AsSpan(32), HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(52), HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(54), PhdrSize);
        BinaryPrimitives.WriteUInt16LittleEndian(f.AsSpan(56), (ushort)phnum);
        void Phdr(int i, uint type, long offset, ulong paddr, ulong length)
        {
            var p = f.AsSpan(HeaderSize + i * PhdrSize);
            BinaryPrimitives.WriteUInt32LittleEndian(p, type);
            BinaryPrimitives.WriteUInt64LittleEndian(p[8..], (ulong)offset);
            BinaryPrimitives.WriteUInt64LittleEndian(p[24..], paddr);
            BinaryPrimitives.WriteUInt64LittleEndian(p[32..], length);
            BinaryPrimitives.WriteUInt64LittleEndian(p[40..], length);
        }
        Phdr(0, 4, HeaderSize + phnum * PhdrSize, 0, NoteSize);
        long at = data;
        for (int s = 0; s < segments.Count; s++)
        {
            var (gfn, bytes) = segments[s];
            Phdr(s + 1, 1, at, gfn * Page, (ulong)bytes.Length);
            bytes.CopyTo(f.AsSpan((int)at));
            at += bytes.Length;
        }
        return f;
    }

    public static string WriteTemp(byte[] bytes, string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "memvisor-images-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
