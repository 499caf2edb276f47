using System.Numerics;

namespace Memvisor.Guest.Memory;

/// <summary>A bit per gfn, with word-at-a-time searches; 1/8 byte per guest page.</summary>
public sealed class GfnBitmap
{
    private ulong[] _words;

    public GfnBitmap(long bits)
    {
        _words = new ulong[(bits + 63) / 64];
        Length = bits;
    }

    public long Length { get; private set; }
    public long Count { get; private set; }
    internal ulong[] Words => _words;
    public int WordCount => _words.Length;

    public bool this[long bit] => (_words[bit >> 6] & (1UL << (int)(bit & 63))) != 0;

    public void Set(long bit)
    {
        ref ulong w = ref _words[bit >> 6];
        ulong m = 1UL << (int)(bit & 63);
        if ((w & m) == 0) { w |= m; Count++; }
    }

    public void Clear(long bit)
    {
        ref ulong w = ref _words[bit >> 6];
        ulong m = 1UL << (int)(bit & 63);
        if ((w & m) != 0) { w &= ~m; Count--; }
    }

    public void Grow(long bits)
    {
        if (bits <= Length) return;
        Array.Resize(ref _words, (int)((bits + 63) / 64));
        Length = bits;
    }

    /// <summary>The lowest set bit at or after word <paramref name="startWord"/>, wrapping once; -1 if none.</summary>
    public long FindSet(int startWord)
    {
        int n = _words.Length;
        for (int k = 0; k < n; k++)
        {
            int i = startWord + k;
            if (i >= n) i -= n;
            ulong w = _words[i];
            if (w != 0) return ((long)i << 6) + BitOperations.TrailingZeroCount(w);
        }
        return -1;
    }

    /// <summary>The lowest set bit in words [<paramref name="fromWord"/>, <paramref name="toWord"/>) at or after word <paramref name="startWord"/>, wrapping once within them; -1 if none.</summary>
    public long FindSetIn(int startWord, int fromWord, int toWord)
    {
        toWord = Math.Min(toWord, _words.Length);
        int n = toWord - fromWord;
        if (n <= 0) return -1;
        if (startWord < fromWord || startWord >= toWord) startWord = fromWord;
        for (int k = 0; k < n; k++)
        {
            int i = startWord + k;
            if (i >= toWord) i -= n;
            ulong w = _words[i];
            if (w != 0) return ((long)i << 6) + BitOperations.TrailingZeroCount(w);
        }
        return -1;
    }

    /// <summary>Set bits in words [<paramref name="fromWord"/>, <paramref name="toWord"/>).</summary>
    public long CountIn(int fromWord, int toWord)
    {
        long n = 0;
        for (int i = fromWord; i < Math.Min(toWord, _words.Length); i++) n += BitOperations.PopCount(_words[i]);
        return n;
    }

    /// <summary>Whether all bits of the 64-bit word <paramref name="word"/> are set.</summary>
    public bool WordFull(int word) => _words[word] == ulong.MaxValue;

    /// <summary>The lowest clear bit below <see cref="Length"/> at or after word <paramref name="startWord"/>; -1 if all are set.</summary>
    public long FindClear(int startWord)
    {
        for (int i = startWord; i < _words.Length; i++)
        {
            ulong w = ~_words[i];
            if (w == 0) continue;
            long bit = ((long)i << 6) + BitOperations.TrailingZeroCount(w);
            return bit < Length ? bit : -1;
        }
        return -1;
    }
}
