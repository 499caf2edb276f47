using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;
using Memvisor.Native;

namespace Memvisor.Bench;

/// <summary><c>bench ratios</c>: LZ4 and zstd compression ratios per content class, and the share of pages that fit in half a page (what a compression cache keeps).</summary>
public static class CompressionRatios
{
    public static int Run(int pages = 4096)
    {
        var page = new byte[PageSize.Bytes];
        var output = new byte[2 * PageSize.Bytes];
        using var zstd = new Zstd();
        Console.WriteLine($"{"class",-16}{"lz4 ratio",12}{"lz4 <=2KiB",12}{"zstd ratio",12}{"zstd <=2KiB",12}");
        foreach (var cls in new[] { ContentClass.KernelText, ContentClass.SharedLibrary, ContentClass.Compressible, ContentClass.Incompressible })
        {
            long lz4Bytes = 0, zstdBytes = 0, lz4Half = 0, zstdHalf = 0;
            for (int i = 0; i < pages; i++)
            {
                ContentGenerator.Fill(cls, (ulong)i + 1, page);
                int l = Lz4.Compress(page, output), z = zstd.Compress(page, output);
                lz4Bytes += l;
                zstdBytes += z;
                if (l <= PageSize.Bytes / 2) lz4Half++;
                if (z <= PageSize.Bytes / 2) zstdHalf++;
            }
            double total = (double)pages * PageSize.Bytes;
            Console.WriteLine($"{cls,-16}{total / lz4Bytes,12:0.00}{(double)lz4Half / pages,12:P0}{total / zstdBytes,12:0.00}{(double)zstdHalf / pages,12:P0}");
        }
        return 0;
    }
}
