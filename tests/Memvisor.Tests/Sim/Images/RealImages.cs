using System.Buffers.Binary;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Memvisor.Tests.Sim.Images;

/// <summary>
/// The real-image fixtures (made by tools/make-fixtures: 4 MiB of two QEMU guests' memory, gzipped), unpacked to
/// temporary files, and the test's own count of their pages: its own ELF reading and SHA-256, nothing of Memvisor's.
/// </summary>
internal static class RealImages
{
    public const int Page = 4096;
    public static readonly string[] Names = ["idle-b", "files-a"];

    /// <summary>The fixtures as ELF cores in <paramref name="dir"/>, in <see cref="Names"/> order.</summary>
    public static string[] Unpack(string dir)
    {
        return [.. Names.Select(name =>
        {
            string path = Path.Combine(dir, name + ".elf");
            using var gz = new GZipStream(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "Fixtures", "images", name + ".elf.gz")), CompressionMode.Decompress);
            using var file = File.Create(path);
            gz.CopyTo(file);
            return path;
        })];
    }

    /// <summary>Every page of an ELF core's PT_LOAD segments, in file order, the last partial page zero-padded.</summary>
    public static List<byte[]> Pages(string path)
    {
        var f = File.ReadAllBytes(path);
        long phoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(32));
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(54));
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(56));
        var pages = new List<byte[]>();
        for (int i = 0; i < phnum; i++)
        {
            var ph = f.AsSpan((int)(phoff + i * phentsize));
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 1) continue;
            long offset = (long)BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
            long size = (long)BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
            for (long at = 0; at < size; at += Page)
            {
                var page = new byte[Page];
                f.AsSpan((int)(offset + at), (int)Math.Min(Page, size - at)).CopyTo(page);
                pages.Add(page);
            }
        }
        return pages;
    }

    public static string Key(byte[] page) => Convert.ToHexString(SHA256.HashData(page));
    public static bool IsZero(byte[] page) => page.All(b => b == 0);
}
