using k8s;
using k8s.Models;

namespace Mercato.Deploy.Tests;

public sealed class KubernetesManifestTests
{
    public static TheoryData<string> Overlays => new() { "base", "overlays/dev", "overlays/production" };

    [SkippableTheory]
    [MemberData(nameof(Overlays))]
    public void Every_object_renders_and_matches_the_Kubernetes_schema(string overlay)
    {
        var objects = Manifests.Load(overlay);

        Assert.NotEmpty(objects);
        Assert.All(objects, o => Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(o));
        // Names are unique per kind, as the API server would insist.
        var duplicates = objects.Cast<IKubernetesObject<V1ObjectMeta>>().GroupBy(o => (o.Kind, o.Metadata.Name)).Where(g => g.Count() > 1).Select(g => g.Key);
        Assert.Empty(duplicates);
    }

    [SkippableTheory]
    [InlineData("overlays/dev")]
    [InlineData("overlays/production")]
    public void Every_service_runs_with_health_probes_resource_requests_and_a_cluster_dns_name(string overlay)
    {
        var objects = Manifests.Load(overlay);
        var deployments = objects.OfType<V1Deployment>().ToDictionary(d => d.Metadata.Name);
        var services = objects.OfType<V1Service>().ToDictionary(s => s.Metadata.Name);

        foreach (var name in Manifests.Services)
        {
            var deployment = Assert.Contains(name, deployments);
            var app = deployment.App();
            Assert.StartsWith($"mercato/{name}:", app.Image, StringComparison.Ordinal);
            var http = Assert.Single(app.Ports, p => p.Name == "http");
            Assert.Equal(8080, http.ContainerPort);
            Assert.Equal("/health/ready", app.ReadinessProbe.HttpGet.Path);
            Assert.Equal("/health/live", app.LivenessProbe.HttpGet.Path);
            Assert.Equal("/health/live", app.StartupProbe.HttpGet.Path);
            Assert.All([app.ReadinessProbe, app.LivenessProbe, app.StartupProbe], probe => Assert.Equal("http", probe.HttpGet.Port.Value));
            Assert.Contains("cpu", app.Resources.Requests.Keys);
            Assert.Contains("memory", app.Resources.Requests.Keys);
            Assert.Contains("memory", app.Resources.Limits.Keys);
            Assert.True(deployment.Spec.Template.Spec.SecurityContext.RunAsNonRoot, $"{name} runs as root");

            // Cluster DNS: http://{name} reaches the pods of this deployment.
            var service = Assert.Contains(name, services);
            Assert.Equal("http", Assert.Single(service.Spec.Ports).TargetPort.Value);
            Assert.All(service.Spec.Selector, label => Assert.Equal(label.Value, deployment.Spec.Template.Metadata.Labels[label.Key]));
            Assert.All(deployment.Spec.Selector.MatchLabels, label => Assert.Equal(label.Value, deployment.Spec.Template.Metadata.Labels[label.Key]));
        }
    }

    [SkippableTheory]
    [InlineData("overlays/dev")]
    [InlineData("overlays/production")]
    public void Discovery_is_cluster_dns_and_the_gateway_routes_each_service_by_its_dns_name(string overlay)
    {
        var objects = Manifests.Load(overlay);
        var config = Assert.Single(objects.OfType<V1ConfigMap>(), c => c.Metadata.Name.StartsWith("mercato-config", StringComparison.Ordinal));
        Assert.Equal("ScaleOut", config.Data["Mercato__Profile"]);
        Assert.Equal("false", config.Data["Registry__Discovery"]);
        Assert.Equal("http://registry", config.Data["Registry__Url"]);
        foreach (var deployment in objects.OfType<V1Deployment>())
        {
            Assert.Contains(deployment.App().EnvFrom, from => from.ConfigMapRef?.Name == config.Metadata.Name);
        }

        var gateway = objects.OfType<V1Deployment>().Single(d => d.Metadata.Name == "gateway").App();
        var routes = gateway.Env.Where(e => e.Name.StartsWith("Gateway__StaticDestinations__", StringComparison.Ordinal))
            .ToDictionary(e => e.Name["Gateway__StaticDestinations__".Length..], e => e.Value);
        var serviceNames = objects.OfType<V1Service>().Select(s => s.Metadata.Name).ToHashSet();
        Assert.Equal(Manifests.Services.Where(s => s != "gateway").Order(), routes.Keys.Order());
        Assert.All(routes, route =>
        {
            Assert.Equal($"http://{route.Key}", route.Value);
            Assert.Contains(route.Key, serviceNames);
        });
    }

    [SkippableFact]
    public void Each_service_gets_only_its_own_database_credentials_from_a_secret_that_exists()
    {
        var objects = Manifests.Load("overlays/dev");
        var secrets = objects.OfType<V1Secret>().ToDictionary(s => s.Metadata.Name);
        foreach (var deployment in objects.OfType<V1Deployment>())
        {
            var name = deployment.Metadata.Name;
            var env = deployment.App().Env;
            var connectionStrings = env.Where(e => e.Name.StartsWith("ConnectionStrings__", StringComparison.Ordinal)).ToList();
            var expected = new List<string>();
            if (Manifests.DatabaseOwners.Contains(name))
            {
                expected.Add($"ConnectionStrings__{name}");
            }
            if (Manifests.MessagingServices.Contains(name))
            {
                expected.Add("ConnectionStrings__rabbitmq");
            }
            Assert.Equal(expected.Order(), connectionStrings.Select(e => e.Name).Order());
            foreach (var variable in env.Where(e => e.ValueFrom?.SecretKeyRef is not null))
            {
                var reference = variable.ValueFrom.SecretKeyRef;
                var secret = Assert.Contains(reference.Name, secrets);
                var value = System.Text.Encoding.UTF8.GetString(Assert.Contains(reference.Key, secret.Data));
                if (variable.Name == $"ConnectionStrings__{name}")
                {
                    Assert.Contains($"Database=mercato_{name};Username=mercato_{name};", value, StringComparison.Ordinal);
                    Assert.Contains("Host=postgres;", value, StringComparison.Ordinal);
                }
            }
        }
        // PostgreSQL and RabbitMQ are external: reached through ExternalName services, never run by these manifests.
        var external = objects.OfType<V1Service>().Where(s => s.Spec.Type == "ExternalName").Select(s => s.Metadata.Name);
        Assert.Equal(["postgres", "rabbitmq"], external.Order());
        Assert.DoesNotContain(objects.OfType<V1StatefulSet>(), _ => true);
    }

    [SkippableFact]
    public void Production_references_the_same_secrets_the_dev_overlay_generates_and_embeds_none()
    {
        static HashSet<string> Referenced(List<object> objects) =>
        [
            .. objects.OfType<V1Deployment>()
                .SelectMany(d => d.App().Env)
                .Where(e => e.ValueFrom?.SecretKeyRef is not null)
                .Select(e => $"{StripHash(e.ValueFrom.SecretKeyRef.Name)}/{e.ValueFrom.SecretKeyRef.Key}"),
        ];

        var production = Manifests.Load("overlays/production");
        var dev = Manifests.Load("overlays/dev");

        Assert.Empty(production.OfType<V1Secret>());
        Assert.Equal(Referenced(dev).Order(), Referenced(production).Order());
    }

    [SkippableFact]
    public void Production_runs_two_instances_of_the_order_path_with_disruption_budgets()
    {
        var objects = Manifests.Load("overlays/production");
        var deployments = objects.OfType<V1Deployment>().ToDictionary(d => d.Metadata.Name);
        var budgets = objects.OfType<V1PodDisruptionBudget>().ToDictionary(b => b.Spec.Selector.MatchLabels["app.kubernetes.io/name"]);
        foreach (var name in (string[])["gateway", "ordering", "payment", "inventory"])
        {
            Assert.True(deployments[name].Spec.Replicas >= 2, $"{name} has {deployments[name].Spec.Replicas} replica(s)");
            Assert.Equal(1, Assert.Contains(name, budgets).Spec.MinAvailable.Value is var min ? int.Parse(min, System.Globalization.CultureInfo.InvariantCulture) : 0);
        }
        // The registry writes one state file: never two writers.
        Assert.Equal(1, deployments["registry"].Spec.Replicas);
        Assert.Equal("Recreate", deployments["registry"].Spec.Strategy.Type);
        Assert.All(objects.OfType<IKubernetesObject<V1ObjectMeta>>().Where(o => o is not V1Namespace), o => Assert.Equal("mercato", o.Metadata.NamespaceProperty));
    }

    [SkippableTheory]
    [InlineData("overlays/dev", false)]
    [InlineData("overlays/production", true)]
    public void Behind_the_production_ingress_the_gateway_takes_the_client_address_from_forwarded_headers(string overlay, bool forwarded)
    {
        var gateway = Manifests.Load(overlay).OfType<V1Deployment>().Single(d => d.Metadata.Name == "gateway").App();

        var setting = gateway.Env.SingleOrDefault(e => e.Name == "ASPNETCORE_FORWARDEDHEADERS_ENABLED")?.Value;

        // Only where an Ingress stands in front: elsewhere a client could pick its own address with the header.
        Assert.Equal(forwarded ? "true" : null, setting);
    }

    [SkippableFact]
    public void Production_serves_https_keeps_each_service_s_replicas_apart_drains_before_stopping_and_seeds_no_demo_products()
    {
        var objects = Manifests.Load("overlays/production");
        var ingress = objects.OfType<V1Ingress>().Single();
        var deployments = objects.OfType<V1Deployment>().ToList();

        Assert.False(string.IsNullOrEmpty(ingress.Spec.IngressClassName));
        Assert.Contains(ingress.Spec.Tls, tls => tls.Hosts.Contains(ingress.Spec.Rules.Single().Host) && !string.IsNullOrEmpty(tls.SecretName));
        Assert.All(deployments, d =>
        {
            var spread = Assert.Single(d.Spec.Template.Spec.TopologySpreadConstraints);
            Assert.Contains("app.kubernetes.io/name", spread.MatchLabelKeys);
            // The grace period outlasts the preStop pause plus the host's 30 s shutdown timeout.
            var pause = d.App().Lifecycle.PreStop.Sleep.Seconds;
            Assert.True(d.Spec.Template.Spec.TerminationGracePeriodSeconds >= pause + 30, $"{d.Metadata.Name}: grace {d.Spec.Template.Spec.TerminationGracePeriodSeconds} s");
        });
        var catalog = deployments.Single(d => d.Metadata.Name == "catalog").App();
        Assert.Equal("false", catalog.Env.Single(e => e.Name == "Catalog__SeedDemoProducts").Value);
        Assert.DoesNotContain(Manifests.Load("overlays/dev").OfType<V1Deployment>().Single(d => d.Metadata.Name == "catalog").App().Env,
            e => e.Name == "Catalog__SeedDemoProducts");
    }

    [SkippableTheory]
    [InlineData("overlays/dev", null)]
    [InlineData("overlays/production", "ingress-nginx")]
    public void Mercato_pods_admit_only_mercato_pods_and_monitoring_and_the_gateway_admits_its_entry(string overlay, string? ingressNamespace)
    {
        var objects = Manifests.Load(overlay);
        var policies = objects.OfType<V1NetworkPolicy>().ToList();
        var pods = objects.OfType<V1Deployment>().Select(d => d.Spec.Template.Metadata.Labels).ToList();
        bool Selects(V1NetworkPolicy policy, IDictionary<string, string> labels) =>
            policy.Spec.PodSelector.MatchLabels.All(l => labels.TryGetValue(l.Key, out var value) && value == l.Value);

        // Every pod is selected by some policy, so only what the policies list may reach it.
        Assert.All(pods, labels => Assert.Contains(policies, p => Selects(p, labels) && p.Spec.PolicyTypes.Contains("Ingress")));
        var sources = policies.Where(p => Selects(p, pods.Single(l => l["app.kubernetes.io/name"] == "catalog")))
            .SelectMany(p => p.Spec.Ingress).ToList();
        Assert.All(sources, rule => Assert.NotEmpty(rule.FromProperty ?? []));
        Assert.Contains(sources, rule => rule.FromProperty.Any(f => f.PodSelector?.MatchLabels["app.kubernetes.io/part-of"] == "mercato"));
        Assert.Contains(sources, rule => rule.FromProperty.Any(f => f.NamespaceSelector?.MatchLabels["kubernetes.io/metadata.name"] == "monitoring")
            && rule.Ports.Single().Port.Value == "http");
        var gateway = policies.Where(p => Selects(p, pods.Single(l => l["app.kubernetes.io/name"] == "gateway"))).SelectMany(p => p.Spec.Ingress).ToList();
        if (ingressNamespace is null)
        {
            // Dev: anyone (a port-forward, a local Ingress).
            Assert.Contains(gateway, rule => (rule.FromProperty ?? []).Count == 0 && rule.Ports.Single().Port.Value == "http");
        }
        else
        {
            // Production: the gateway trusts X-Forwarded-For, so only the Ingress controller (besides Mercato's pods and
            // monitoring) may reach it; a rule open to anyone would let any pod set a new client address per request.
            Assert.All(gateway, rule => Assert.NotEmpty(rule.FromProperty ?? []));
            Assert.Contains(gateway, rule => rule.FromProperty.Any(f => f.NamespaceSelector?.MatchLabels["kubernetes.io/metadata.name"] == ingressNamespace)
                && rule.Ports.Single().Port.Value == "http");
        }
    }

    private static string StripHash(string generatedName)
    {
        // Kustomize's generators append "-<10 character hash>".
        var dash = generatedName.LastIndexOf('-');
        return dash > 0 && generatedName.Length - dash == 11 ? generatedName[..dash] : generatedName;
    }
}
