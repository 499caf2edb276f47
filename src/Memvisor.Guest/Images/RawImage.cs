using Memvisor.Machine.Frames;

namespace Memvisor.Guest.Images;

/// <summary>A flat guest-physical image: byte offset = guest-physical address; a last partial page is zero-padded.</summary>
public sealed class RawImage : IMemoryImage
{
    private readonly ChunkedReader _file;
    private readonly long _length;
    private ulong _next;

    public RawImage(string path)
    {
        Path = path;
        _file = new ChunkedReader(path);
        _length = _file.Length;
        if (_length == 0)
        {
            _file.Dispose();
            throw new ImageFormatException(path, 0, "the file is empty; a raw image holds at least one page.");
        }
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
        int present = (int)Math.Min(PageSize.Bytes, _length - offset);
        _file.Copy(offset, page[..present]);
        page[present..PageSize.Bytes].Clear();
        _next++;
        return true;
    }

    public void ReadPage(long index, Span<byte> page)
    {
        if ((ulong)index >= (ulong)Pages) throw new ArgumentOutOfRangeException(nameof(index), $"The image has {Pages} pages, so no page {index}.");
        long offset = index * PageSize.Bytes;
        int present = (int)Math.Min(PageSize.Bytes, _length - offset);
        _file.ReadExactly(offset, page[..present]);
        page[present..PageSize.Bytes].Clear();
    }

    public void Dispose() => _file.Dispose();
}
