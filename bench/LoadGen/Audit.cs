using System.Collections.Concurrent;
using System.Globalization;

namespace Mercato.LoadGen;

public sealed record OrderAudit(
    int Placed, int Confirmed, int Cancelled, int NotTerminal,
    int AmbiguousFailures, int AmbiguousExisted, int AmbiguousCreatedByAudit, int AmbiguousUnresolved,
    int Untracked, IReadOnlyDictionary<string, int> CancellationReasons);

public sealed record StockAudit(bool Passed, int Products, long UnitsConfirmed, int Mismatches, IReadOnlyList<string> Details);

public sealed record PaymentAudit(
    bool Passed, int OrdersChecked, decimal Captured, decimal Refunded, decimal CapturedMinusRefunded, decimal ConfirmedOrderTotals,
    int OrderMismatches, IReadOnlyDictionary<string, int> Statuses, IReadOnlyList<string> Details);

/// <summary><paramref name="ConsistentAfterSeconds"/>: from the start of the audit until stock and payments added up.</summary>
public sealed record AuditReport(
    bool Passed, OrderAudit Orders, StockAudit Stock, PaymentAudit Payments, IReadOnlyList<string> Problems, double Seconds, double ConsistentAfterSeconds);

/// <summary>
/// The end state of a checkout run, read back through the public API after the load:
/// every order the load placed is Confirmed or Cancelled; for every product, onHand fell by exactly the units of the
/// confirmed orders and nothing is left reserved; payments captured minus refunded equal the confirmed orders' totals,
/// order by order (a confirmed order has exactly one captured payment of its total, a cancelled one none).
/// Placements that failed ambiguously (timeout, transport error, 5xx) are resolved first by sending the same
/// Idempotency-Key again, as a client would: an order that did get created is then audited like the others.
/// Then every order the load's users have had since <paramref name="since"/> is listed: one the load was never told of
/// (say, created by a placement answered with a 4xx) fails the audit, and is audited like the others.
/// </summary>
public sealed class Audit(MercatoApi api, Options options, Setup setup, Workload workload, DateTimeOffset since, Action<string> log)
{
    private const int Parallelism = 8;

    public async Task<AuditReport> RunAsync(IReadOnlyDictionary<Guid, StockDto> stockBefore, CancellationToken ct)
    {
        var started = Clock.Now;
        var problems = new List<string>();
        var orders = workload.Orders.ToList();

        var (existed, created, unresolved) = await ResolveAmbiguousAsync(orders, ct);
        if (unresolved > 0)
        {
            problems.Add($"{unresolved} ambiguous placements could not be resolved by re-sending their Idempotency-Key");
        }

        var (untracked, unlisted) = await FindUntrackedAsync(orders, ct);
        if (unlisted > 0)
        {
            problems.Add($"the orders of {unlisted} load users could not be listed");
        }
        if (untracked.Count > 0)
        {
            problems.Add($"{untracked.Count} orders of the load's users that the load was never told of (not answered 202 nor resolved)");
            orders.AddRange(untracked);
        }

        await WaitForTerminalAsync(orders, ct);
        var notTerminal = orders.Count(o => !o.Terminal);
        if (notTerminal > 0)
        {
            problems.Add($"{notTerminal} orders not Confirmed or Cancelled {options.Drain.TotalSeconds:0} s after the load");
        }
        var confirmed = orders.Where(o => o.View?.Status == Workload.Confirmed).ToList();
        var cancelled = orders.Where(o => o.View?.Status == Workload.Cancelled).ToList();
        var orderAudit = new OrderAudit(orders.Count, confirmed.Count, cancelled.Count, notTerminal,
            workload.Ambiguous.Count, existed, created, unresolved, untracked.Count,
            cancelled.GroupBy(o => o.View!.CancellationReason ?? "(none)").OrderByDescending(g => g.Count()).Take(10)
                .ToDictionary(g => g.Key, g => g.Count()));

        // Stock is committed and refunds are made by messages after the order's terminal event: read both again
        // (only what did not add up) until they do, or the drain time is over.
        var deadline = started + Clock.Ticks(options.Drain);
        var paymentsByOrder = new ConcurrentDictionary<Guid, List<PaymentDto>>();
        StockAudit stock;
        PaymentAudit payments;
        while (true)
        {
            stock = await AuditStockAsync(stockBefore, confirmed, ct);
            payments = await AuditPaymentsAsync(orders, paymentsByOrder, ct);
            if ((stock.Passed && payments.Passed) || Clock.Now > deadline)
            {
                break;
            }
            log($"audit: not consistent yet ({stock.Mismatches} products, {payments.OrderMismatches} orders' payments), reading again");
            await Task.Delay(1000, ct);
        }
        ConsistentAfterSeconds = Clock.Seconds(Clock.Now - started);
        if (!stock.Passed)
        {
            problems.Add($"stock arithmetic broken on {stock.Mismatches} products");
        }
        if (!payments.Passed)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture,
                $"payments: captured - refunded = {payments.CapturedMinusRefunded} vs confirmed totals {payments.ConfirmedOrderTotals}, {payments.OrderMismatches} orders inconsistent"));
        }
        return new AuditReport(problems.Count == 0, orderAudit, stock, payments, problems, Clock.Seconds(Clock.Now - started), ConsistentAfterSeconds);
    }

    private async Task<(int Existed, int Created, int Unresolved)> ResolveAmbiguousAsync(List<TrackedOrder> orders, CancellationToken ct)
    {
        int existed = 0, created = 0, unresolved = 0;
        var ambiguous = workload.Ambiguous.ToList();
        if (ambiguous.Count == 0)
        {
            return (0, 0, 0);
        }
        log($"audit: resolving {ambiguous.Count} ambiguous placements by their Idempotency-Key");
        var resolved = new ConcurrentBag<TrackedOrder>();
        await Parallel.ForEachAsync(ambiguous, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (a, token) =>
        {
            var resentAt = DateTimeOffset.UtcNow;
            var again = await api.PostAsync<OrderAcceptedDto>("/api/orders", a.User.Token, a.Body, a.IdempotencyKey, token);
            if (again is not { Ok: true, Value: { } accepted })
            {
                Interlocked.Increment(ref unresolved);
                return;
            }
            var order = new TrackedOrder(accepted.OrderId, a.User, a.IdempotencyKey, a.Measured) { Origin = "resolved" };
            var view = await api.GetAsync<OrderViewDto>($"/api/orders/{order.Id}", setup.AdminToken, token);
            order.View = view.Value;
            if (view.Value is { } v && v.CreatedAt < resentAt)
            {
                Interlocked.Increment(ref existed);
            }
            else
            {
                Interlocked.Increment(ref created);
            }
            resolved.Add(order);
        });
        orders.AddRange(resolved);
        return (existed, created, unresolved);
    }

    /// <summary>The load users' orders created since the run began that are not among <paramref name="known"/>.</summary>
    private async Task<(List<TrackedOrder> Untracked, int UsersNotListed)> FindUntrackedAsync(List<TrackedOrder> known, CancellationToken ct)
    {
        var ids = known.Select(o => o.Id).ToHashSet();
        var found = new ConcurrentBag<TrackedOrder>();
        var failures = 0;
        await Parallel.ForEachAsync(setup.Users, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (user, token) =>
        {
            await foreach (var read in api.OrderPagesAsync(user.Token, token))
            {
                if (read is not { Ok: true, Value: { } views })
                {
                    Interlocked.Increment(ref failures);
                    return;
                }
                foreach (var view in views.Where(v => v.CreatedAt >= since && !ids.Contains(v.Id)))
                {
                    found.Add(new TrackedOrder(view.Id, user, "", measured: false) { Origin = "untracked", View = view });
                }
                // Newest first: a page reaching back before the run holds the rest.
                if (views.Count > 0 && views[^1].CreatedAt < since)
                {
                    return;
                }
            }
        });
        return ([.. found], failures);
    }

    private async Task WaitForTerminalAsync(List<TrackedOrder> orders, CancellationToken ct)
    {
        var deadline = Clock.Now + Clock.Ticks(options.Drain);
        while (true)
        {
            var pending = orders.Where(o => !o.Terminal).ToList();
            if (pending.Count == 0)
            {
                return;
            }
            log($"audit: {pending.Count} orders not terminal yet, reading them again");
            await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (order, token) =>
            {
                var read = await api.GetAsync<OrderViewDto>($"/api/orders/{order.Id}", setup.AdminToken, token);
                if (read is { Ok: true, Value: { } view })
                {
                    order.View = view;
                }
            });
            if (orders.All(o => o.Terminal) || Clock.Now > deadline)
            {
                return;
            }
            await Task.Delay(1000, ct);
        }
    }

    private async Task<StockAudit> AuditStockAsync(IReadOnlyDictionary<Guid, StockDto> before, List<TrackedOrder> confirmed, CancellationToken ct)
    {
        var after = await setup.ReadStockAsync(ct);
        var sold = confirmed.SelectMany(o => o.View!.Items).GroupBy(l => l.ProductId).ToDictionary(g => g.Key, g => (long)g.Sum(l => l.Quantity));
        var details = new List<string>();
        foreach (var product in setup.Products)
        {
            before.TryGetValue(product.Id, out var was);
            after.TryGetValue(product.Id, out var now);
            var units = sold.GetValueOrDefault(product.Id);
            if (was is null || now is null)
            {
                if (units > 0)
                {
                    details.Add($"{product.Id}: {units} units confirmed but no stock record {(was is null ? "before" : "after")} the run");
                }
                continue;
            }
            var expectedOnHand = was.OnHand - units;
            if (now.OnHand != expectedOnHand || now.Reserved != was.Reserved || now.Available != now.OnHand - now.Reserved)
            {
                details.Add(string.Create(CultureInfo.InvariantCulture,
                    $"{product.Id}: onHand {was.OnHand} -> {now.OnHand} (expected {expectedOnHand}: {units} units confirmed), reserved {was.Reserved} -> {now.Reserved}, available {now.Available}"));
            }
        }
        return new StockAudit(details.Count == 0, setup.Products.Count, sold.Values.Sum(), details.Count, [.. details.Take(20)]);
    }

    private double ConsistentAfterSeconds { get; set; }

    /// <summary>Reads the payments of every order not yet known to be consistent (all of them the first time).</summary>
    private async Task<PaymentAudit> AuditPaymentsAsync(
        List<TrackedOrder> orders, ConcurrentDictionary<Guid, List<PaymentDto>> payments, CancellationToken ct)
    {
        var failures = 0;
        var toRead = orders.Where(o => !payments.TryGetValue(o.Id, out var known) || !PaymentsConsistent(o, known)).ToList();
        await Parallel.ForEachAsync(toRead, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = ct }, async (order, token) =>
        {
            var read = await api.GetAsync<List<PaymentDto>>($"/api/payments?orderId={order.Id}", setup.AdminToken, token);
            if (read is { Ok: true, Value: { } list })
            {
                payments[order.Id] = list;
            }
            else
            {
                Interlocked.Increment(ref failures);
            }
        });
        var all = payments.Values.SelectMany(p => p).ToList();
        var captured = all.Where(p => p.Status is "Captured" or "Refunded").Sum(p => p.Amount);
        var refunded = all.Where(p => p.Status == "Refunded").Sum(p => p.Amount);
        var confirmedTotals = orders.Where(o => o.View?.Status == Workload.Confirmed).Sum(o => o.View!.Total);
        var details = new List<string>();
        if (failures > 0)
        {
            details.Add($"{failures} orders' payments could not be read");
        }
        foreach (var order in orders.Where(o => o.Terminal))
        {
            var list = payments.GetValueOrDefault(order.Id) ?? [];
            if (!PaymentsConsistent(order, list))
            {
                details.Add(string.Create(CultureInfo.InvariantCulture,
                    $"order {order.Id} {order.View!.Status} total {order.View.Total}: payments {string.Join(", ", list.Select(p => $"{p.Status} {p.Amount}"))}"));
            }
        }
        var mismatches = details.Count - (failures > 0 ? 1 : 0);
        var passed = failures == 0 && mismatches == 0 && captured - refunded == confirmedTotals;
        return new PaymentAudit(passed, payments.Count, captured, refunded, captured - refunded, confirmedTotals, mismatches,
            all.GroupBy(p => p.Status).ToDictionary(g => g.Key, g => g.Count()), [.. details.Take(20)]);
    }

    /// <summary>A confirmed order has exactly one captured payment of its total; a cancelled one has none captured.</summary>
    private static bool PaymentsConsistent(TrackedOrder order, List<PaymentDto> payments)
    {
        if (!order.Terminal)
        {
            return true;
        }
        var captured = payments.Where(p => p.Status == "Captured").ToList();
        return order.View!.Status == Workload.Confirmed
            ? captured.Count == 1 && captured[0].Amount == order.View.Total
            : captured.Count == 0;
    }
}
