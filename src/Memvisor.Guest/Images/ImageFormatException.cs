namespace Memvisor.Guest.Images;

/// <summary>A memory image that is not what its format says: the message names the file and the byte offset of the fault.</summary>
public sealed class ImageFormatException(string path, long offset, string problem)
    : Exception($"{path}: at byte {offset}: {problem}")
{
    public string Path { get; } = path;
    public long Offset { get; } = offset;
}
