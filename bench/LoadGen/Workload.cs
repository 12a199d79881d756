using System.Collections.Concurrent;

namespace Mercato.LoadGen;

/// <summary>An order the load placed (or that the audit resolved from an ambiguous failure), and what became of it.</summary>
public sealed class TrackedOrder(Guid id, LoadUser user, string idempotencyKey, bool measured)
{
    public Guid Id { get; } = id;
    public LoadUser User { get; } = user;
    public string IdempotencyKey { get; } = idempotencyKey;
    public bool Measured { get; } = measured;

    /// <summary>
    /// "placed" by the load, "resolved" by the audit re-sending an ambiguous failure's Idempotency-Key, or "untracked":
    /// found by the audit among the load users' orders, though the load was never told of it.
    /// </summary>
    public string Origin { get; init; } = "placed";

    /// <summary>The last view read; its status is Pending until the saga ends the order.</summary>
    public OrderViewDto? View { get; set; }

    public bool Terminal => View?.Status is Workload.Confirmed or Workload.Cancelled;
}

/// <summary>A placement that failed without saying whether the order exists (timeout, transport error, 5xx).</summary>
public sealed record AmbiguousPlacement(LoadUser User, string IdempotencyKey, PlaceOrderDto Body, bool Measured, string Error);

public enum OperationKind
{
    List,
    Search,
    Product,
    Checkout,
}

public readonly record struct Operation(OperationKind Kind, string Path, LoadUser? User, PlaceOrderDto? Order);

/// <summary>
/// The scenarios' operations. browse: catalog list (30 %), search (30 %), product detail (40 %), anonymous.
/// checkout: a registered user (round robin) places an order of 1–2 products × 1–2 units with tok_visa, then reads it
/// until Confirmed or Cancelled. mixed: each operation is a checkout with probability --checkout-share, else browse.
/// </summary>
public sealed class Workload
{
    public const string Confirmed = "Confirmed";
    public const string Cancelled = "Cancelled";

    public const string BrowseAll = "browse (all)";
    public const string BrowseList = "browse: list";
    public const string BrowseSearch = "browse: search";
    public const string BrowseProduct = "browse: product";
    public const string Place = "checkout: place (202)";
    public const string Complete = "checkout: order terminal";

    private readonly MercatoApi _api;
    private readonly Options _options;
    private readonly RunMetrics _metrics;
    private readonly IReadOnlyList<ProductDto> _products;
    private readonly IReadOnlyList<LoadUser> _users;
    private readonly string[] _searchWords;
    private readonly DateTimeOffset _wallAtZero;
    private readonly long _ticksAtZero;

    /// <summary>Ordering holds a read for at most this long (its MaxWait).</summary>
    private const int MaxWaitSeconds = 20;

    private int _userCursor = -1;

    public Workload(MercatoApi api, Options options, RunMetrics metrics, IReadOnlyList<ProductDto> products, IReadOnlyList<LoadUser> users)
    {
        _api = api;
        _options = options;
        _metrics = metrics;
        _products = products;
        _users = users;
        _searchWords = [.. products
            .SelectMany(p => p.Name.Split([' ', '-', ':', '\''], StringSplitOptions.RemoveEmptyEntries))
            .Where(w => w.Length >= 4 && w.All(char.IsLetter))
            .Select(w => w.ToLowerInvariant())
            .Distinct()
            .Order(StringComparer.Ordinal)];
        // Wall clock and monotonic clock read together: turns an operation's intended start into the server's time
        // scale (same machine), to measure the saga from the order's own terminal-event timestamp.
        _ticksAtZero = Clock.Now;
        _wallAtZero = DateTimeOffset.UtcNow;
    }

    public ConcurrentQueue<TrackedOrder> Orders { get; } = new();

    public ConcurrentQueue<AmbiguousPlacement> Ambiguous { get; } = new();

    /// <summary>Orders that got 202, warm-up included.</summary>
    public int Placed => Orders.Count;

    public Operation Next(Random rng)
    {
        var checkout = _options.Scenario switch
        {
            Scenario.Checkout => true,
            Scenario.Mixed => rng.NextDouble() < _options.CheckoutShare,
            _ => false,
        };
        if (checkout)
        {
            var user = _users[(int)((uint)Interlocked.Increment(ref _userCursor) % (uint)_users.Count)];
            var lines = rng.Next(1, 3);
            var first = rng.Next(_products.Count);
            var items = new List<OrderItemDto> { new(_products[first].Id, rng.Next(1, 3)) };
            if (lines == 2 && _products.Count > 1)
            {
                var second = (first + 1 + rng.Next(_products.Count - 1)) % _products.Count;
                items.Add(new(_products[second].Id, rng.Next(1, 3)));
            }
            return new Operation(OperationKind.Checkout, "/api/orders", user, new PlaceOrderDto(items, "tok_visa"));
        }
        var roll = rng.NextDouble();
        if (roll < 0.3)
        {
            return new Operation(OperationKind.List, $"/api/catalog/products?page={rng.Next(1, 3)}&pageSize=12", null, null);
        }
        if (roll < 0.6 && _searchWords.Length > 0)
        {
            return new Operation(OperationKind.Search, $"/api/catalog/products?q={_searchWords[rng.Next(_searchWords.Length)]}", null, null);
        }
        return new Operation(OperationKind.Product, $"/api/catalog/products/{_products[rng.Next(_products.Count)].Id}", null, null);
    }

    /// <summary>Runs one operation; latency is taken from <paramref name="intended"/>, its scheduled start.</summary>
    public Task ExecuteAsync(Operation op, long intended, bool measured, CancellationToken ct) =>
        op.Kind == OperationKind.Checkout ? CheckoutAsync(op, intended, measured, ct) : BrowseAsync(op, intended, measured, ct);

    private async Task BrowseAsync(Operation op, long intended, bool measured, CancellationToken ct)
    {
        var result = await _api.GetDiscardAsync(op.Path, null, ct);
        if (!result.Ok)
        {
            _metrics.Errors.Add($"{Name(op.Kind)}: {result.Error}", measured);
            return;
        }
        _metrics.Record(Name(op.Kind), measured, intended, result.End);
        _metrics.Record(BrowseAll, measured, intended, result.End);
    }

    private static string Name(OperationKind kind) => kind switch
    {
        OperationKind.List => BrowseList,
        OperationKind.Search => BrowseSearch,
        OperationKind.Product => BrowseProduct,
        _ => Place,
    };

    private async Task CheckoutAsync(Operation op, long intended, bool measured, CancellationToken ct)
    {
        var user = op.User!;
        var key = Guid.NewGuid().ToString("N");
        var placed = await _api.PostAsync<OrderAcceptedDto>(op.Path, user.Token, op.Order!, key, ct);
        if (placed is not { Ok: true, Value: { } accepted })
        {
            var error = placed.Error ?? "empty answer";
            _metrics.Errors.Add($"place: {error}", measured);
            // A 4xx says the order was not taken (anything created anyway is found by the audit's listing of the users'
            // orders); a 5xx, a timeout or a broken connection might have been taken.
            if (placed.Status is < 400 or >= 500)
            {
                Ambiguous.Enqueue(new AmbiguousPlacement(user, key, op.Order!, measured, error));
            }
            return;
        }
        _metrics.Record(Place, measured, intended, placed.End);
        var order = new TrackedOrder(accepted.OrderId, user, key, measured);
        Orders.Enqueue(order);
        await FollowAsync(order, intended, ct);
    }

    /// <summary>
    /// Reads the order until it is Confirmed or Cancelled, or --order-timeout passes. Each read asks ordering to hold it
    /// until then (<c>Prefer: wait</c>); a read it did not hold (an older revision measured as the baseline, or an
    /// instance holding as many reads as it allows) is followed by the next after 100, 200, 400 ... 1,000 ms. The "terminal" latency is the time of the order's Confirmed or
    /// Cancelled event (ordering's clock, same machine) minus the intended start, so it does not depend on how the order
    /// is read.
    /// </summary>
    private async Task FollowAsync(TrackedOrder order, long intended, CancellationToken ct)
    {
        var deadline = intended + Clock.Ticks(_options.OrderTimeout);
        var delay = 100;
        async Task BackOffAsync()
        {
            await Task.Delay(delay, ct).ConfigureAwait(false);
            delay = Math.Min(1000, delay * 2);
        }
        var answeredAtOnce = false;
        while (!ct.IsCancellationRequested)
        {
            if (answeredAtOnce)
            {
                await BackOffAsync().ConfigureAwait(false);
            }
            // Held at most until the order's deadline, and answered within one request's timeout.
            var wait = (int)Math.Clamp(Math.Min(Clock.Seconds(deadline - Clock.Now), _options.RequestTimeout.TotalSeconds - 1), 1, MaxWaitSeconds);
            var read = await _api.GetWaitingAsync<OrderViewDto>($"/api/orders/{order.Id}", order.User.Token, wait, ct);
            if (read is { Ok: true, Value: { } view })
            {
                answeredAtOnce = !read.WaitApplied;
                if (read.WaitApplied)
                {
                    delay = 100;
                }
                order.View = view;
                if (order.Terminal)
                {
                    var end = ToTicks(view.EndedAt);
                    _metrics.Record(Complete, order.Measured, intended, Math.Max(end, intended + 1));
                    return;
                }
            }
            else
            {
                _metrics.Errors.Add($"order read: {read.Error}", order.Measured);
                // Do not read again at once.
                answeredAtOnce = true;
            }
            if (Clock.Now > deadline)
            {
                _metrics.Errors.Add("order not terminal within --order-timeout", order.Measured);
                return;
            }
        }
    }

    private long ToTicks(DateTimeOffset wall) => _ticksAtZero + Clock.Ticks(wall - _wallAtZero);
}
