using System.Globalization;
using System.Net;
using System.Text;

namespace Memvisor.Report;

/// <summary>One line of a chart: its label and its points (x in seconds; a null y lifts the pen).</summary>
internal sealed record Series(string Label, IReadOnlyList<(double X, double? Y)> Points);

/// <summary>
/// Draws charts into the page as inline SVG: lines, or areas stacked on one another. Each chart is an
/// <c>svg.chart</c>; the page's check script marks on load how many of its series the browser laid out with a size,
/// which is what the Chromium test reads.
/// </summary>
internal static class SvgChart
{
    private const int Width = 900, Height = 320, Left = 70, Right = 190, Top = 20, Bottom = 40;
    // Two points per pixel of the plot: longer series are reduced so that a long run's report stays small. A line keeps
    // the lowest and highest point of each pixel's span (its peaks stay); a stacked area keeps every k-th point.
    private const int MaxPoints = 2 * (Width - Left - Right);
    private static readonly string[] Palette =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

    /// <summary>The script that marks each chart with the series the browser rendered (data-rendered) and the page with the charts that have some (data-charts-rendered of data-charts).</summary>
    public const string RenderCheckScript =
        "<script>window.addEventListener('load',function(){var c=document.querySelectorAll('svg.chart'),ok=0;" +
        "c.forEach(function(s){var n=0;s.querySelectorAll('.series').forEach(function(p){var b=p.getBBox();if(b.width>0||b.height>0)n++;});" +
        "s.setAttribute('data-rendered',n);if(n>0)ok++;});document.body.setAttribute('data-charts',c.length);" +
        "document.body.setAttribute('data-charts-rendered',ok);});</script>";

    public static void Lines(StringBuilder html, IReadOnlyList<Series> series, double xMax, string yUnit = "MiB")
    {
        double yMax = Math.Max(1, series.SelectMany(s => s.Points).Max(p => p.Y ?? 0));
        Open(html, series.Count, xMax, yMax, yUnit);
        for (int s = 0; s < series.Count; s++)
        {
            var path = new StringBuilder();
            bool pen = false;
            foreach (var (x, y) in Reduced(series[s].Points))
            {
                if (y is not double v) { pen = false; continue; }
                path.Append(pen ? " L" : " M").Append(F(X(x, xMax))).Append(',').Append(F(Y(v, yMax)));
                pen = true;
            }
            html.Append(CultureInfo.InvariantCulture, $"<path class=\"series\" d=\"{path}\" fill=\"none\" stroke=\"{Color(s)}\" stroke-width=\"1.5\"/>");
            Legend(html, s, series[s].Label);
        }
        html.Append("</svg>");
    }

    /// <summary>
    /// Lines over named categories, evenly spaced on the x axis (a sweep's axis values), one per series, each point
    /// marked so that a series of one category still shows; a null value lifts the pen.
    /// </summary>
    public static void Categories(StringBuilder html, IReadOnlyList<string> categories, IReadOnlyList<(string Label, IReadOnlyList<double?> Values)> series, string yUnit, string xLabel)
    {
        int plotW = Width - Left - Right;
        double yMax = Math.Max(1e-9, series.SelectMany(s => s.Values).Max(v => v ?? 0));
        double Cx(int i) => Left + plotW * (categories.Count == 1 ? 0.5 : (0.05 + 0.9 * i / (categories.Count - 1)));
        Frame(html, series.Count, yMax, yUnit, smallDigits: 3);
        for (int i = 0; i < categories.Count; i++)
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Cx(i))}\" y=\"{Height - Bottom + 15}\" text-anchor=\"middle\">{Encode(categories[i])}</text>");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + plotW / 2}\" y=\"{Height - 6}\" text-anchor=\"middle\">{Encode(xLabel)}</text>");
        for (int s = 0; s < series.Count; s++)
        {
            var path = new StringBuilder();
            var marks = new StringBuilder();
            bool pen = false;
            for (int i = 0; i < categories.Count && i < series[s].Values.Count; i++)
            {
                if (series[s].Values[i] is not double v) { pen = false; continue; }
                double x = Cx(i), y = Y(v, yMax);
                path.Append(pen ? " L" : " M").Append(F(x)).Append(',').Append(F(y));
                marks.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(x)}\" cy=\"{F(y)}\" r=\"3\" fill=\"{Color(s)}\"/>");
                pen = true;
            }
            html.Append(CultureInfo.InvariantCulture, $"<g class=\"series\"><path d=\"{path}\" fill=\"none\" stroke=\"{Color(s)}\" stroke-width=\"1.5\"/>{marks}</g>");
            Legend(html, s, series[s].Label);
        }
        html.Append("</svg>");
    }

    /// <summary>Areas stacked bottom up in the order given; <paramref name="reference"/> draws a dashed level (the host's size).</summary>
    public static void Stacked(StringBuilder html, IReadOnlyList<Series> layers, double xMax, double? reference = null, string referenceLabel = "")
    {
        int n = layers.Count == 0 ? 0 : layers[0].Points.Count;
        var top = new double[n];
        for (int s = 0; s < layers.Count; s++)
            for (int i = 0; i < n; i++) top[i] += layers[s].Points[i].Y ?? 0;
        double yMax = Math.Max(Math.Max(1, reference ?? 0), n == 0 ? 1 : top.Max());
        Open(html, layers.Count, xMax, yMax, "MiB");
        var below = new double[n];
        for (int s = 0; s < layers.Count; s++)
        {
            var pts = layers[s].Points;
            var path = new StringBuilder();
            var kept = Kept(n).ToList();
            foreach (int i in kept) path.Append(i == 0 ? "M" : " L").Append(F(X(pts[i].X, xMax))).Append(',').Append(F(Y(below[i] + (pts[i].Y ?? 0), yMax)));
            for (int j = kept.Count - 1; j >= 0; j--) path.Append(" L").Append(F(X(pts[kept[j]].X, xMax))).Append(',').Append(F(Y(below[kept[j]], yMax)));
            if (n > 0) path.Append(" Z");
            html.Append(CultureInfo.InvariantCulture, $"<path class=\"series\" d=\"{path}\" fill=\"{Color(s)}\" fill-opacity=\"0.75\" stroke=\"{Color(s)}\" stroke-width=\"0.5\"/>");
            Legend(html, s, layers[s].Label);
            for (int i = 0; i < n; i++) below[i] += pts[i].Y ?? 0;
        }
        if (reference is double level)
        {
            double y = Y(level, yMax);
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Width - Right}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#000\" stroke-dasharray=\"5,4\"/>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + 5}\" y=\"{F(y - 4)}\">{Encode(referenceLabel)}</text>");
        }
        html.Append("</svg>");
    }

    // A line's points, at most MaxPoints: each span of k keeps its lowest and highest point in time order, and a gap
    // (a null) in a span lifts the pen after it.
    private static IReadOnlyList<(double X, double? Y)> Reduced(IReadOnlyList<(double X, double? Y)> points)
    {
        if (points.Count <= MaxPoints) return points;
        int span = (points.Count + MaxPoints / 2 - 1) / (MaxPoints / 2);
        var kept = new List<(double X, double? Y)>(MaxPoints + MaxPoints / 2);
        for (int start = 0; start < points.Count; start += span)
        {
            int end = Math.Min(points.Count, start + span), low = -1, high = -1;
            bool gap = false;
            for (int i = start; i < end; i++)
            {
                if (points[i].Y is not double y) { gap = true; continue; }
                if (low < 0 || y < points[low].Y) low = i;
                if (high < 0 || y > points[high].Y) high = i;
            }
            if (low >= 0) kept.Add(points[Math.Min(low, high)]);
            if (high >= 0 && high != low) kept.Add(points[Math.Max(low, high)]);
            if (gap) kept.Add((points[end - 1].X, null));
        }
        return kept;
    }

    // The indices drawn of n points: all of them up to MaxPoints, else every k-th and the last.
    private static IEnumerable<int> Kept(int n)
    {
        int step = Math.Max(1, (n + MaxPoints - 1) / MaxPoints);
        for (int i = 0; i < n; i += step) yield return i;
        if (n > 0 && (n - 1) % step != 0) yield return n - 1;
    }

    /// <summary>Horizontal bars, one per label, each with its value written at its end; <paramref name="unit"/> names what the bars measure.</summary>
    public static void Bars(StringBuilder html, IReadOnlyList<(string Label, double Value)> bars, string unit)
    {
        const int row = 24, labelWidth = 170;
        int height = Top + Bottom + row * bars.Count, plotW = Width - labelWidth - Right;
        double max = Math.Max(1e-9, bars.Count == 0 ? 0 : bars.Max(b => b.Value));
        html.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" data-series=\"{bars.Count}\" width=\"{Width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">");
        for (int i = 0; i < bars.Count; i++)
        {
            var (label, value) = bars[i];
            int y = Top + i * row;
            double w = Math.Max(1, plotW * value / max);
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth - 6}\" y=\"{y + 16}\" text-anchor=\"end\">{Encode(label)}</text>");
            html.Append(CultureInfo.InvariantCulture, $"<rect class=\"series\" x=\"{labelWidth}\" y=\"{y + 4}\" width=\"{F(w)}\" height=\"{row - 8}\" fill=\"{Color(i)}\"/>");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(labelWidth + w + 5)}\" y=\"{y + 16}\">{(value >= 100 ? Math.Round(value) : Math.Round(value, 2))}</text>");
        }
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth}\" y=\"{height - Bottom + 20}\">{Encode(unit)}</text></svg>");
    }

    /// <summary>
    /// A grid of cells, rows by columns (two axes of a sweep), each shaded by its value from white to the darkest at the
    /// largest, with the value written in it and as the cell's tooltip; a null value leaves its cell empty.
    /// </summary>
    public static void Heatmap(StringBuilder html, IReadOnlyList<string> rows, IReadOnlyList<string> columns, double?[,] values, string unit, string rowLabel, string columnLabel)
    {
        const int cellH = 28, labelW = 150;
        int cellW = Math.Max(40, Math.Min(120, (Width - labelW - 20) / Math.Max(1, columns.Count)));
        int height = Top + 20 + cellH * rows.Count + Bottom;
        double max = 1e-9;
        int cells = 0;
        foreach (var v in values)
            if (v is double d)
            {
                max = Math.Max(max, d);
                cells++;
            }
        html.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" data-series=\"{cells}\" width=\"{labelW + cellW * columns.Count + 20}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">");
        // Rows by columns, on a line of its own above the grid: a long key path would not fit beside the row labels.
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"6\" y=\"{Top - 8}\">{Encode(rowLabel)} (rows) by {Encode(columnLabel)} (columns)</text>");
        for (int c = 0; c < columns.Count; c++)
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW + cellW * c + cellW / 2}\" y=\"{Top + 4}\" text-anchor=\"middle\">{Encode(columns[c])}</text>");
        for (int r = 0; r < rows.Count; r++)
        {
            int y = Top + 14 + cellH * r;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW - 6}\" y=\"{y + cellH / 2 + 4}\" text-anchor=\"end\">{Encode(rows[r])}</text>");
            for (int c = 0; c < columns.Count; c++)
            {
                if (values[r, c] is not double v) continue;
                // From white (0) to the palette's blue (the largest value).
                double t = v / max;
                string fill = $"rgb({(int)(255 - t * 224)},{(int)(255 - t * 136)},{(int)(255 - t * 75)})";
                string text = (v >= 100 ? Math.Round(v) : Math.Round(v, 3)).ToString(CultureInfo.InvariantCulture);
                html.Append(CultureInfo.InvariantCulture, $"<rect class=\"series\" x=\"{labelW + cellW * c}\" y=\"{y}\" width=\"{cellW - 2}\" height=\"{cellH - 2}\" fill=\"{fill}\">")
                    .Append(CultureInfo.InvariantCulture, $"<title>{Encode(rowLabel)} {Encode(rows[r])}, {Encode(columnLabel)} {Encode(columns[c])}: {text} {Encode(unit)}</title></rect>");
                html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW + cellW * c + cellW / 2 - 1}\" y=\"{y + cellH / 2 + 3}\" text-anchor=\"middle\" fill=\"{(t > 0.6 ? "#fff" : "#222")}\">{text}</text>");
            }
        }
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelW}\" y=\"{height - Bottom + 20}\">{Encode(unit)}</text></svg>");
    }

    // A chart over simulated time: the frame, and the x axis in seconds.
    private static void Open(StringBuilder html, int series, double xMax, double yMax, string yUnit)
    {
        Frame(html, series, yMax, yUnit, smallDigits: 2);
        int plotW = Width - Left - Right;
        for (int k = 0; k <= 4; k++)
        {
            double x = Left + plotW * k / 4.0;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{Height - Bottom + 15}\" text-anchor=\"middle\">{xMax * k / 4:0.#}s</text>");
        }
    }

    // The svg element, the plot's border and the y axis (five ticks, whole numbers from 20 up, else rounded to smallDigits).
    private static void Frame(StringBuilder html, int series, double yMax, string yUnit, int smallDigits)
    {
        int plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        html.Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" data-series=\"{series}\" width=\"{Width}\" height=\"{Height}\" xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">");
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>");
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 5}\" y=\"{Top - 6}\" text-anchor=\"end\">{Encode(yUnit)}</text>");
        for (int k = 0; k <= 4; k++)
        {
            double y = Top + plotH - plotH * k / 4.0;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 5}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{(yMax >= 20 ? Math.Round(yMax * k / 4) : Math.Round(yMax * k / 4, smallDigits))}</text>");
        }
    }

    private static void Legend(StringBuilder html, int s, string label) =>
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right + 10}\" y=\"{Top + 12 + 13 * s}\" fill=\"{Color(s)}\">{Encode(label)}</text>");

    private static double X(double x, double xMax) => Left + (Width - Left - Right) * x / Math.Max(1e-9, xMax);
    private static double Y(double y, double yMax) => Top + (Height - Top - Bottom) * (1 - y / yMax);
    private static string Color(int s) => Palette[s % Palette.Length];
    private static string F(double v) => v.ToString("0.#", CultureInfo.InvariantCulture);
    private static string Encode(string s) => WebUtility.HtmlEncode(s);
}
