using System.Globalization;
using System.Text.Json.Nodes;

namespace Mercato.LoadGen;

public sealed record LoadUser(string Email, string Token);

/// <summary>What a run needs before the load: the admin's token, the products, the users, stock, rate limits.</summary>
public sealed class Setup(MercatoApi api, Options options, Action<string> log)
{
    public const string UserPassword = "Bench-Load-1";

    public string AdminToken { get; private set; } = "";

    public IReadOnlyList<ProductDto> Products { get; private set; } = [];

    public IReadOnlyList<LoadUser> Users { get; private set; } = [];

    /// <summary>The policy document in force before the run (restored at the end), when limits were raised.</summary>
    public JsonNode? PreviousPolicy { get; private set; }

    public long? RaisedPolicyVersion { get; private set; }

    public async Task LoginAdminAsync(CancellationToken ct)
    {
        // The gateway may have just come up: retry for up to 60 s.
        var deadline = Clock.Now + Clock.Ticks(TimeSpan.FromSeconds(60));
        while (true)
        {
            var result = await api.PostAsync<TokenDto>("/api/identity/token", null,
                new { email = options.AdminEmail, password = options.AdminPassword }, null, ct);
            if (result is { Ok: true, Value: { } token })
            {
                AdminToken = token.AccessToken;
                return;
            }
            if (result.Status == 401 || Clock.Now > deadline)
            {
                throw new InvalidOperationException($"Admin login at {api.Gateway} failed: {result.Error}.");
            }
            await Task.Delay(1000, ct);
        }
    }

    public async Task LoadProductsAsync(CancellationToken ct)
    {
        var page = await api.GetAsync<ProductPageDto>("/api/catalog/products?page=1&pageSize=100", null, ct);
        if (page is not { Ok: true, Value.Items.Count: > 0 })
        {
            throw new InvalidOperationException($"The catalog lists no products ({page.Error ?? "empty"}).");
        }
        Products = page.Value.Items;
        log($"{Products.Count} products in the catalog");
    }

    /// <summary>Registers the load users (an existing one just signs in) and takes a token for each.</summary>
    public async Task PrepareUsersAsync(CancellationToken ct)
    {
        var users = new LoadUser[options.Users];
        await Parallel.ForAsync(0, options.Users, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (i, token) =>
        {
            var email = string.Create(CultureInfo.InvariantCulture, $"{options.UserPrefix}-{i:D5}@bench.mercato.local");
            var created = await api.PostAsync<bool>("/api/identity/users", null,
                new { email, password = UserPassword, name = $"Bench user {i}" }, null, token);
            if (!created.Ok && created.Status != 409)
            {
                throw new InvalidOperationException($"Registering {email} failed: {created.Error}.");
            }
            var login = await api.PostAsync<TokenDto>("/api/identity/token", null, new { email, password = UserPassword }, null, token);
            users[i] = login is { Ok: true, Value: { } t }
                ? new LoadUser(email, t.AccessToken)
                : throw new InvalidOperationException($"Login of {email} failed: {login.Error}.");
        });
        Users = users;
        log($"{Users.Count} users signed in ({options.UserPrefix}-NNNNN@bench.mercato.local)");
    }

    /// <summary>Sets every product's onHand (admin), so orders are not cancelled for lack of stock.</summary>
    public async Task SetStockAsync(CancellationToken ct)
    {
        await Parallel.ForEachAsync(Products, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (product, token) =>
        {
            var result = await api.PutAsync<StockDto>($"/api/inventory/items/{product.Id}", AdminToken, new { onHand = options.Stock }, token);
            if (!result.Ok)
            {
                throw new InvalidOperationException($"Setting stock of {product.Id} failed: {result.Error}.");
            }
        });
        log($"stock of {Products.Count} products set to onHand={options.Stock}");
    }

    /// <summary>
    /// Waits (up to <c>--settle</c>) until no recent order of the load users is pending and two reads of the stock a
    /// second apart agree, then returns that stock. A run that starts while the backlog of the one before is still being
    /// confirmed or released would take that backlog's stock movements for its own and fail its audit.
    /// </summary>
    public async Task<Dictionary<Guid, StockDto>> SettleAsync(CancellationToken ct)
    {
        var deadline = Clock.Now + Clock.Ticks(options.Settle);
        var stock = await ReadStockAsync(ct);
        while (Clock.Now < deadline)
        {
            var pending = await CountPendingOrdersAsync(ct);
            await Task.Delay(1000, ct);
            var again = await ReadStockAsync(ct);
            var moved = again.Count != stock.Count || again.Any(s => !stock.TryGetValue(s.Key, out var was) || was != s.Value);
            stock = again;
            if (pending == 0 && !moved)
            {
                return stock;
            }
            log($"settling: {pending} earlier orders of the load users pending{(moved ? ", stock still moving" : "")}");
        }
        if (options.Settle > TimeSpan.Zero)
        {
            log($"WARNING: not settled after {options.Settle.TotalSeconds:0} s; the audit may count earlier orders' stock movements");
        }
        return stock;
    }

    /// <summary>Orders of the load users not yet Confirmed or Cancelled, among each user's newest 500.</summary>
    private async Task<int> CountPendingOrdersAsync(CancellationToken ct)
    {
        const int Pages = 5;
        var pending = 0;
        await Parallel.ForEachAsync(Users, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (user, token) =>
        {
            await foreach (var read in api.OrderPagesAsync(user.Token, token).Take(Pages).WithCancellation(token))
            {
                if (read is not { Ok: true, Value: { } views })
                {
                    throw new InvalidOperationException($"Listing the orders of {user.Email} failed: {read.Error}.");
                }
                Interlocked.Add(ref pending, views.Count(v => v.Status is not (Workload.Confirmed or Workload.Cancelled)));
            }
        });
        return pending;
    }

    public async Task<Dictionary<Guid, StockDto>> ReadStockAsync(CancellationToken ct)
    {
        var stock = new System.Collections.Concurrent.ConcurrentDictionary<Guid, StockDto>();
        await Parallel.ForEachAsync(Products, new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct }, async (product, token) =>
        {
            var result = await api.GetAsync<StockDto>($"/api/inventory/items/{product.Id}", AdminToken, token);
            if (result is { Ok: true, Value: { } item })
            {
                stock[product.Id] = item;
            }
            else if (result.Status != 404)
            {
                throw new InvalidOperationException($"Reading stock of {product.Id} failed: {result.Error}.");
            }
        });
        return new Dictionary<Guid, StockDto>(stock);
    }

    /// <summary>
    /// Raises the gateway's per-user and per-IP token buckets (control plane, <c>gateway.rateLimit</c>) so the load
    /// measures the system rather than the edge limiter; keeps the previous document for <see cref="RestoreLimitsAsync"/>.
    /// </summary>
    public async Task RaiseLimitsAsync(CancellationToken ct)
    {
        var current = await api.GetAsync<JsonNode>("/api/registry/policies", AdminToken, ct);
        if (current is not { Ok: true, Value: JsonObject document })
        {
            throw new InvalidOperationException($"Reading the policy document failed: {current.Error}.");
        }
        PreviousPolicy = document.DeepClone();
        var raised = (JsonObject)document.DeepClone();
        raised.Remove("version");
        var gateway = raised["gateway"] as JsonObject ?? [];
        var rateLimit = new JsonObject
        {
            ["userPermitsPerSecond"] = 1_000_000,
            ["userBurst"] = 10_000_000,
            ["anonymousPermitsPerSecond"] = 1_000_000,
            ["anonymousBurst"] = 10_000_000,
        };
        // Systems from before the sign-in bucket refuse fields they do not know: raise it only where it exists.
        if (gateway["rateLimit"]?["credentialBurst"] is not null)
        {
            rateLimit["credentialPermitsPerMinute"] = 60_000_000;
            rateLimit["credentialBurst"] = 10_000_000;
        }
        gateway["rateLimit"] = rateLimit;
        raised["gateway"] = gateway;
        var put = await api.PutAsync<JsonNode>("/api/registry/policies", AdminToken, raised, ct);
        if (put is not { Ok: true, Value: { } accepted })
        {
            PreviousPolicy = null;
            throw new InvalidOperationException($"Raising the gateway's rate limits failed: {put.Error}.");
        }
        RaisedPolicyVersion = accepted["version"]?.GetValue<long>();
        log($"gateway rate limits raised (policy version {RaisedPolicyVersion}; previous version {PreviousPolicy["version"]} is put back at the end)");
        await WaitForGatewayPolicyAsync(RaisedPolicyVersion ?? 0, ct);
    }

    public async Task RestoreLimitsAsync(CancellationToken ct)
    {
        if (PreviousPolicy is not JsonObject previous)
        {
            return;
        }
        var document = (JsonObject)previous.DeepClone();
        document.Remove("version");
        var put = await api.PutAsync<JsonNode>("/api/registry/policies", AdminToken, document, ct);
        if (!put.Ok)
        {
            log($"WARNING: restoring the previous policy document failed ({put.Error}); restore it by hand (PUT /api/registry/policies)");
            return;
        }
        PreviousPolicy = null;
        log($"previous policy document put back (as version {put.Value?["version"]})");
    }

    /// <summary>Instances pull the document every 2 s: wait until the gateway has the raised one in force.</summary>
    private async Task WaitForGatewayPolicyAsync(long version, CancellationToken ct)
    {
        var deadline = Clock.Now + Clock.Ticks(TimeSpan.FromSeconds(15));
        while (Clock.Now < deadline)
        {
            var effective = await api.GetAsync<JsonNode>("/api/gateway/admin/policies", AdminToken, ct);
            if (effective is { Ok: true, Value: { } node } && node["version"]?.GetValue<long>() >= version)
            {
                return;
            }
            await Task.Delay(250, ct);
        }
        log("WARNING: the gateway did not report the raised policy within 15 s; early requests may meet the old limits");
    }
}
