using Microsoft.Win32.SafeHandles;

namespace Memvisor.Guest.Images;

/// <summary>An image file read through one 1 MiB buffer, refilled when a read leaves it: one system call per MiB, not per page.</summary>
internal sealed class ChunkedReader : IDisposable
{
    private const int ChunkBytes = 1 << 20;

    private readonly SafeFileHandle _file;
    private readonly byte[] _chunk = new byte[ChunkBytes];
    private long _chunkStart = -1, _chunkLength;

    public ChunkedReader(string path)
    {
        Path = path;
        _file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        Length = RandomAccess.GetLength(_file);
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>Reads exactly <paramref name="into"/>.Length bytes at <paramref name="offset"/> without the buffer (headers).</summary>
    public void ReadExactly(long offset, Span<byte> into) => ImageFile.ReadExactly(_file, Path, offset, into);

    /// <summary>Copies the bytes at <paramref name="offset"/> into <paramref name="into"/> through the buffer.</summary>
    public void Copy(long offset, Span<byte> into)
    {
        if (offset < _chunkStart || offset + into.Length > _chunkStart + _chunkLength)
        {
            _chunkStart = offset;
            _chunkLength = Math.Min(ChunkBytes, Length - offset);
            ImageFile.ReadExactly(_file, Path, offset, _chunk.AsSpan(0, (int)_chunkLength));
        }
        _chunk.AsSpan((int)(offset - _chunkStart), into.Length).CopyTo(into);
    }

    public void Dispose() => _file.Dispose();
}
