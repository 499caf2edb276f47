using Memvisor.Machine.Frames;
using Microsoft.Win32.SafeHandles;

namespace Memvisor.Guest.Images;

/// <summary>A flat guest-physical image: byte offset = guest-physical address; a last partial page is zero-padded.</summary>
public sealed class RawImage : IMemoryImage
{
    private readonly SafeFileHandle _file;
    private readonly long _length;
    private ulong _next;

    public RawImage(string path)
    {
        Path = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        _length = RandomAccess.GetLength(_file);
        if (_length == 0) throw new ImageFormatException(path, 0, "the file is empty; a raw image holds at least one page.");
        Pages = (_length + PageSize.Bytes - 1) / PageSize.Bytes;
    }

    public string Path { get; }
    public string Format => "raw";
    public long Pages { get; }
    public ulong GfnLimit => (ulong)Pages;

    public bool TryReadNext(out ulong gfn, Span<byte> page)
    {
        gfn = _next;
        if ((long)_next >= Pages) return false;
        long offset = (long)_next * PageSize.Bytes;
        ImageFile.ReadExactly(_file, Path, offset, page[..(int)Math.Min(PageSize.Bytes, _length - offset)]);
        if (_length - offset < PageSize.Bytes) page[(int)(_length - offset)..PageSize.Bytes].Clear();
        _next++;
        return true;
    }

    public void Dispose() => _file.Dispose();
}
