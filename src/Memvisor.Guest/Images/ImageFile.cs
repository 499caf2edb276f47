using Microsoft.Win32.SafeHandles;

namespace Memvisor.Guest.Images;

/// <summary>Opening an image by its format, and the exact reads both formats need.</summary>
public static class ImageFile
{
    public static IReadOnlyList<string> Formats { get; } = ["auto", "elf", "raw"];

    /// <summary>
    /// Opens <paramref name="path"/>: "elf" an ELF core (QEMU's dump-guest-memory, virsh dump --memory-only), "raw" a
    /// flat image, "auto" an ELF core if the file starts with the ELF magic, else refused (a raw image must be named so).
    /// </summary>
    public static IMemoryImage Open(string path, string format = "auto")
    {
        // A FIFO or a device never ends and cannot be read twice; a directory cannot be read at all.
        if (Memvisor.Native.FileStat.WhyNotRegular(path) is { } why) throw new ImageFormatException(path, 0, $"the image {why}.");
        if (format == "raw") return new RawImage(path);
        if (format == "elf" || ElfCoreImage.HasMagic(path)) return new ElfCoreImage(path);
        throw new ImageFormatException(path, 0, "the file is not an ELF core (no ELF magic); give the format raw for a flat guest-physical image.");
    }

    /// <summary>Reads exactly <paramref name="into"/>.Length bytes at <paramref name="offset"/>, or refuses the file as truncated there.</summary>
    internal static void ReadExactly(SafeFileHandle file, string path, long offset, Span<byte> into)
    {
        int done = 0;
        while (done < into.Length)
        {
            int n = RandomAccess.Read(file, into[done..], offset + done);
            if (n <= 0) throw new ImageFormatException(path, offset + done, $"the file ends {into.Length - done} bytes short of what its headers promise.");
            done += n;
        }
    }
}
