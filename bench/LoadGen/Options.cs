using System.Globalization;

namespace Mercato.LoadGen;

public enum Scenario
{
    Browse,
    Checkout,
    Mixed,
}

public enum LoopMode
{
    /// <summary>Constant arrival rate (like wrk2): operations start on a fixed schedule whatever the answers take.</summary>
    Open,

    /// <summary>A fixed number of workers, each starting its next operation when the previous one finished.</summary>
    Closed,
}

/// <summary>Everything the command line can say. <see cref="Parse"/> throws <see cref="UsageException"/> on a bad one.</summary>
public sealed record Options
{
    public Scenario Scenario { get; init; }
    public LoopMode Mode { get; init; } = LoopMode.Open;
    public Uri Gateway { get; init; } = new(Environment.GetEnvironmentVariable("MERCATO_GATEWAY") ?? "http://127.0.0.1:8080");
    public double Rate { get; init; } = 50;
    public int Concurrency { get; init; } = 16;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(5);
    public int Users { get; init; } = 20;
    public double CheckoutShare { get; init; } = 0.1;
    public int Stock { get; init; } = 1_000_000;
    public int Connections { get; init; } = 512;
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan OrderTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan Drain { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(120);
    public int MaxInFlight { get; init; } = 50_000;
    public string? JsonPath { get; init; }
    public bool Audit { get; init; } = true;
    public bool RaiseLimits { get; init; } = true;
    public bool BypassCache { get; init; }
    public string AdminEmail { get; init; } = "admin@mercato.local";
    public string AdminPassword { get; init; } = Environment.GetEnvironmentVariable("MERCATO_ADMIN_PASSWORD") ?? "Admin123!";
    public string UserPrefix { get; init; } = "bench-user";
    public int Seed { get; init; } = 42;
    public bool Quiet { get; init; }
    public string? Label { get; init; }

    public bool Orders => Scenario is Scenario.Checkout or Scenario.Mixed;

    public const string Usage = """
        Mercato load generator: drives the public API through the gateway and reports latency and errors.

        usage: loadgen <browse|checkout|mixed> [options]

          --gateway URL          gateway base address (env MERCATO_GATEWAY, default http://127.0.0.1:8080)
          --mode open|closed     open: constant arrival rate, latency from each operation's intended start
                                 (coordinated-omission corrected); closed: --concurrency workers back to back (default open)
          --rate N               open loop: operations started per second (default 50)
          --concurrency N        closed loop: workers (default 16)
          --duration T           measured window, e.g. 30s, 2m (default 30s)
          --warmup T             load before the measured window, not recorded (default 5s)
          --users N              registered users placing orders, round robin (default 20)
          --checkout-share F     mixed: fraction of operations that are checkouts (default 0.1)
          --stock N              onHand set on every product before the run, 0 = leave stock alone (default 1000000)
          --connections N        most HTTP connections to the gateway (default 512)
          --timeout T            one request's timeout (default 30s)
          --order-timeout T      longest wait for an order to reach Confirmed or Cancelled (default 60s)
          --drain T              after the run, how long the audit waits for orders still pending (default 60s)
          --settle T             before the run, how long to wait for the load users' earlier orders to end and stock to
                                 stop moving, so a run does not start on the backlog of the one before (default 120s; 0: no wait)
          --max-in-flight N      open loop: operations in flight beyond which new ones count as 'client-backlog' (default 50000)
          --json FILE            also write the report as JSON
          --no-audit             skip the end-state audit of orders, stock and payments
          --bypass-cache         send Cache-Control: no-store, so the gateway's shared cache answers nothing and every
                                 request reaches the services (compare with and without on one system)
          --keep-limits          do not raise the gateway's rate limits for the run (by default they are raised through
                                 PUT /api/registry/policies and the previous document is put back at the end)
          --admin-email E, --admin-password P   admin login (env MERCATO_ADMIN_PASSWORD; default the dev admin)
          --user-prefix P        e-mail prefix of the load users (default bench-user)
          --seed N               random seed for the operation mix (default 42)
          --label TEXT           free text copied into the report
          --quiet                no live progress line
        """;

    private static readonly HashSet<string> FlagOnly = new(StringComparer.Ordinal) { "--no-audit", "--keep-limits", "--bypass-cache", "--quiet" };

    public static Options Parse(string[] args)
    {
        if (args.Length == 0 || args.Any(a => a is "-h" or "--help" or "help"))
        {
            throw new UsageException(null);
        }
        // The scenario is the one word that is not an option or an option's value; it may come anywhere.
        Scenario? scenario = null;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                rest.Add(args[i]);
                if (!FlagOnly.Contains(args[i]) && i + 1 < args.Length)
                {
                    rest.Add(args[++i]);
                }
            }
            else if (scenario is null)
            {
                scenario = args[i].ToLowerInvariant() switch
                {
                    "browse" => Scenario.Browse,
                    "checkout" => Scenario.Checkout,
                    "mixed" => Scenario.Mixed,
                    _ => throw new UsageException($"Unknown scenario '{args[i]}': use browse, checkout or mixed."),
                };
            }
            else
            {
                throw new UsageException($"Unexpected '{args[i]}'.");
            }
        }
        var options = new Options { Scenario = scenario ?? throw new UsageException("No scenario: use browse, checkout or mixed.") };
        args = [.. rest];
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{name} needs a value.");
            options = name switch
            {
                "--gateway" => options with { Gateway = ParseUri(name, Value()) },
                "--mode" => options with
                {
                    Mode = Value().ToLowerInvariant() switch
                    {
                        "open" => LoopMode.Open,
                        "closed" => LoopMode.Closed,
                        var other => throw new UsageException($"--mode '{other}': use open or closed."),
                    },
                },
                "--rate" => options with { Rate = ParseDouble(name, Value(), 0.1, 1_000_000) },
                "--concurrency" => options with { Concurrency = ParseInt(name, Value(), 1, 100_000) },
                "--duration" => options with { Duration = ParseTime(name, Value(), allowZero: false) },
                "--warmup" => options with { Warmup = ParseTime(name, Value(), allowZero: true) },
                "--users" => options with { Users = ParseInt(name, Value(), 1, 100_000) },
                "--checkout-share" => options with { CheckoutShare = ParseDouble(name, Value(), 0, 1) },
                "--stock" => options with { Stock = ParseInt(name, Value(), 0, 1_000_000) },
                "--connections" => options with { Connections = ParseInt(name, Value(), 1, 100_000) },
                "--timeout" => options with { RequestTimeout = ParseTime(name, Value(), allowZero: false) },
                "--order-timeout" => options with { OrderTimeout = ParseTime(name, Value(), allowZero: false) },
                "--drain" => options with { Drain = ParseTime(name, Value(), allowZero: true) },
                "--settle" => options with { Settle = ParseTime(name, Value(), allowZero: true) },
                "--max-in-flight" => options with { MaxInFlight = ParseInt(name, Value(), 1, 10_000_000) },
                "--json" => options with { JsonPath = Value() },
                "--no-audit" => options with { Audit = false },
                "--keep-limits" => options with { RaiseLimits = false },
                "--bypass-cache" => options with { BypassCache = true },
                "--admin-email" => options with { AdminEmail = Value() },
                "--admin-password" => options with { AdminPassword = Value() },
                "--user-prefix" => options with { UserPrefix = Value() },
                "--seed" => options with { Seed = ParseInt(name, Value(), int.MinValue, int.MaxValue) },
                "--label" => options with { Label = Value() },
                "--quiet" => options with { Quiet = true },
                _ => throw new UsageException($"Unknown option '{name}'."),
            };
        }
        return options;
    }

    /// <summary>"30s", "2m", "500ms", "1h" or plain seconds.</summary>
    public static TimeSpan ParseTime(string name, string value, bool allowZero)
    {
        var v = value.Trim().ToLowerInvariant();
        (string number, double scale) = v switch
        {
            _ when v.EndsWith("ms", StringComparison.Ordinal) => (v[..^2], 0.001),
            _ when v.EndsWith('s') => (v[..^1], 1),
            _ when v.EndsWith('m') => (v[..^1], 60),
            _ when v.EndsWith('h') => (v[..^1], 3600),
            _ => (v, 1),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || (!allowZero && n == 0) || n * scale > 86_400)
        {
            throw new UsageException($"{name} '{value}': expected a duration such as 30s, 2m or 500ms{(allowZero ? "" : ", above zero")}.");
        }
        return TimeSpan.FromSeconds(n * scale);
    }

    private static int ParseInt(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new UsageException($"{name} '{value}': expected a whole number between {min} and {max}.");

    private static double ParseDouble(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new UsageException($"{name} '{value}': expected a number between {min} and {max}.");

    private static Uri ParseUri(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new UsageException($"{name} '{value}': expected an http(s) address.");
}

public sealed class UsageException(string? message) : Exception(message ?? "")
{
    public bool HelpOnly => string.IsNullOrEmpty(Message);
}
