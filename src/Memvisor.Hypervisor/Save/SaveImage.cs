using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Memvisor.Machine.Content;
using Memvisor.Machine.Frames;

namespace Memvisor.Hypervisor.Save;

/// <summary>
/// The layout of a Memvisor save image: a header (magic, version, the domain's name, max_pages, target, the p2m's
/// size and the record count), then one record per gfn with something behind it, in ascending gfn order, then an end
/// marker and an XXH3-64 of every byte before it. Like the records of Xen's migration stream v2
/// (docs/specs/libxc-migration-stream.pandoc: PAGE_DATA with a pfn and type per page), but a record names its page's
/// kind: zeros and populate-on-demand entries carry no bytes, a synthetic page carries its 8-byte content handle, a
/// page whose frame an earlier gfn of the image already holds (a shared page) names that gfn, a PV page table carries
/// its level and its 4 KiB with each entry's frame as a gfn (<see cref="PvTables"/>), and any other page carries its
/// 4 KiB. The client's tmem pools follow the records (<see cref="SaveImageTmem"/>).
/// </summary>
internal static class SaveImage
{
    public static ReadOnlySpan<byte> Magic => "MVSAVE\0\u0001"u8;
    public static ReadOnlySpan<byte> EndMagic => "MVSAVEND"u8;
    public const uint Version = 2;
    public const int MaxName = 4096;

    public enum Kind : byte { Pod = 0, Zero = 1, Handle = 2, Bytes = 3, Same = 4, Table = 5 }

    public readonly record struct Header(string Name, long MaxPages, long TargetPages, ulong P2mCapacity, long Records)
    {
        /// <summary>What the reader accepts; the writer checks it too, before anything is destroyed.</summary>
        public bool Valid => Encoding.UTF8.GetByteCount(Name) <= MaxName && MaxPages is >= 0 and <= int.MaxValue && TargetPages >= 0
            && P2mCapacity <= int.MaxValue && Records >= 0 && (ulong)Records <= P2mCapacity;
    }

    /// <summary>Whether a handle read from an image names a page Memvisor's generator can make.</summary>
    public static bool Generable(ContentHandle h) => h.IsSynthetic && h.SyntheticClass is > ContentClass.Zero and <= ContentClass.Incompressible;

    /// <summary>Writes bytes to the image and hashes them as it goes.</summary>
    public sealed class Writer(Stream stream)
    {
        private readonly XxHash3 _hash = new();
        private readonly byte[] _word = new byte[8];
        public long Length { get; private set; }

        public void Put(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            _hash.Append(bytes);
            Length += bytes.Length;
        }

        public void PutU64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_word, v);
            Put(_word);
        }

        public void PutByte(byte b)
        {
            _word[0] = b;
            Put(_word.AsSpan(0, 1));
        }

        public void PutHeader(Header h)
        {
            Put(Magic);
            PutU64(Version);
            byte[] name = Encoding.UTF8.GetBytes(h.Name);
            PutU64((ulong)name.Length);
            Put(name);
            PutU64((ulong)h.MaxPages);
            PutU64((ulong)h.TargetPages);
            PutU64(h.P2mCapacity);
            PutU64((ulong)h.Records);
        }

        /// <summary>The end marker and the hash of everything before it.</summary>
        public void Finish()
        {
            ulong sum = _hash.GetCurrentHashAsUInt64();
            Put(EndMagic);
            BinaryPrimitives.WriteUInt64LittleEndian(_word, sum);
            stream.Write(_word);
            Length += 8;
        }
    }

    /// <summary>Reads an image back, hashing what it reads; every read that runs past the end returns false.</summary>
    public sealed class Reader(Stream stream)
    {
        private readonly XxHash3 _hash = new();
        private readonly byte[] _word = new byte[8];

        public bool Get(Span<byte> into)
        {
            if (stream.ReadAtLeast(into, into.Length, throwOnEndOfStream: false) != into.Length) return false;
            _hash.Append(into);
            return true;
        }

        public bool GetU64(out ulong v)
        {
            v = 0;
            if (!Get(_word)) return false;
            v = BinaryPrimitives.ReadUInt64LittleEndian(_word);
            return true;
        }

        public bool GetByte(out byte b)
        {
            b = 0;
            if (!Get(_word.AsSpan(0, 1))) return false;
            b = _word[0];
            return true;
        }

        public bool GetHeader(out Header h)
        {
            h = default;
            Span<byte> magic = stackalloc byte[8];
            if (!Get(magic) || !magic.SequenceEqual(Magic)) return false;
            if (!GetU64(out ulong version) || version != Version || !GetU64(out ulong nameLength) || nameLength > MaxName) return false;
            var name = new byte[nameLength];
            if (!Get(name) || !GetU64(out ulong max) || !GetU64(out ulong target) || !GetU64(out ulong capacity) || !GetU64(out ulong records)) return false;
            if (max > int.MaxValue || target > long.MaxValue || capacity > int.MaxValue || records > capacity) return false;
            string text;
            try { text = new UTF8Encoding(false, true).GetString(name); }
            catch (DecoderFallbackException) { return false; }
            h = new Header(text, (long)max, (long)target, capacity, (long)records);
            return h.Valid;
        }

        /// <summary>Reads the end marker and checks the hash of everything before it, and that nothing follows.</summary>
        public bool Finish()
        {
            ulong sum = _hash.GetCurrentHashAsUInt64();
            Span<byte> end = stackalloc byte[8];
            if (!Get(end) || !end.SequenceEqual(EndMagic)) return false;
            Span<byte> stored = stackalloc byte[8];
            if (stream.ReadAtLeast(stored, 8, throwOnEndOfStream: false) != 8) return false;
            Span<byte> extra = stackalloc byte[1];
            return BinaryPrimitives.ReadUInt64LittleEndian(stored) == sum && stream.Read(extra) == 0;
        }
    }

    /// <summary>The payload length of a record of this kind; -1 for a kind that does not exist.</summary>
    public static int PayloadBytes(byte kind) => (Kind)kind switch
    {
        Kind.Pod or Kind.Zero => 0,
        Kind.Handle or Kind.Same => 8,
        Kind.Bytes => PageSize.Bytes,
        // A PV page table: its level (8 bytes), then its 4 KiB with each entry's frame as a gfn.
        Kind.Table => 8 + PageSize.Bytes,
        _ => -1,
    };
}
