using System.Globalization;

namespace Memvisor.Sim.Scenarios;

/// <summary>Sizes, durations and rates as scenarios write them: sizes in KiB, MiB, GiB, TiB (a bare number is MiB, as in xl.cfg); times in ms, s, min, h.</summary>
public static class Units
{
    public static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var (number, unit) = Split(text);
        // As xl reads sizes: a bare number is MiB, and K, M, G, T are powers of 1024. MB, GB and TB are refused:
        // they may mean powers of 1000, and reading 256MB as 256MiB would be a silent 5% error either way.
        long multiplier = unit.ToLowerInvariant() switch
        {
            "" or "m" or "mib" => 1L << 20,
            "k" or "kib" => 1L << 10,
            "g" or "gib" => 1L << 30,
            "t" or "tib" => 1L << 40,
            _ => 0,
        };
        if (multiplier == 0 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value < 0
            || value > long.MaxValue / 2 / multiplier)
            return false;
        decimal b = value * multiplier;
        if (b > long.MaxValue / 2) return false;
        bytes = (long)b;
        return true;
    }

    public static bool TryParseDuration(string text, out long ns)
    {
        ns = 0;
        var (number, unit) = Split(text);
        long multiplier = unit.ToLowerInvariant() switch
        {
            "ms" => 1_000_000L,
            "s" or "" => 1_000_000_000L,
            "min" or "m" => 60_000_000_000L,
            "h" => 3_600_000_000_000L,
            _ => 0,
        };
        if (multiplier == 0 || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value < 0
            || value > long.MaxValue / multiplier)
            return false;
        ns = (long)(value * multiplier);
        return true;
    }

    /// <summary>A rate such as "20000/s" or "1200/min", in events per second.</summary>
    public static bool TryParseRate(string text, out double perSecond)
    {
        perSecond = 0;
        int slash = text.IndexOf('/');
        string number = slash < 0 ? text.Trim() : text[..slash].Trim();
        string per = slash < 0 ? "s" : text[(slash + 1)..].Trim();
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < 0) return false;
        // "/s" is per one second, "/2s" per two.
        if (!TryParseDuration(per.Length > 0 && (char.IsAsciiDigit(per[0]) || per[0] == '.') ? per : "1" + per, out long ns) || ns == 0) return false;
        perSecond = value * 1e9 / ns;
        return true;
    }

    /// <summary>A size per unit of time such as "256MiB/s" or "1GiB/min", in bytes per second.</summary>
    public static bool TryParseSizeRate(string text, out double bytesPerSecond)
    {
        bytesPerSecond = 0;
        int slash = text.IndexOf('/');
        if (slash < 0 || !TryParseSize(text[..slash], out long bytes)) return false;
        string per = text[(slash + 1)..].Trim();
        if (!TryParseDuration(per.Length > 0 && (char.IsAsciiDigit(per[0]) || per[0] == '.') ? per : "1" + per, out long ns) || ns == 0) return false;
        bytesPerSecond = bytes * 1e9 / ns;
        return true;
    }

    public static string FormatSize(long bytes) =>
        bytes % (1L << 30) == 0 ? $"{bytes >> 30}GiB" : bytes % (1L << 20) == 0 ? $"{bytes >> 20}MiB" : $"{bytes >> 10}KiB";

    private static (string Number, string Unit) Split(string text)
    {
        text = text.Trim();
        int i = 0;
        while (i < text.Length && (char.IsDigit(text[i]) || text[i] == '.')) i++;
        return (text[..i], text[i..].Trim());
    }
}
