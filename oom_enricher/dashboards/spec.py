"""What the Kibana objects show. Field names must exist in oom_enricher.schema.document_fields.

Generation (oom_enricher.dashboards.generate) fails if a panel names a field that is not in
the document contract or cannot be aggregated.
"""

from __future__ import annotations

from oom_enricher.dashboards.spec_types import (
    Dashboard,
    DateHistogram,
    LensPanel,
    LinksPanel,
    Metric,
    Ranges,
    SavedSearch,
    SearchPanel,
    Terms,
)

DATA_VIEW_TITLE = "logs-oom_enricher.oom-*"
DATA_VIEW_NAME = "OOM kills (oom-enricher)"
OVERVIEW = "OOM kills — fleet overview"
DETAIL = "OOM kill — detail"
KILLS = Metric("count", label="Kills")

SEARCHES = (
    SavedSearch(
        title="OOM kills",
        description="Every OOM kill with where it happened, the victim, the limit and why.",
        columns=(
            "host.name",
            "container.id",
            "kubernetes.namespace",
            "kubernetes.pod.name",
            "kubernetes.container.name",
            "systemd.unit",
            "process.name",
            "oom.limit_hit",
            "oom.usage_ratio",
            "oom.explanation",
        ),
    ),
    SavedSearch(
        title="OOM kills in pods not named yet",
        description="Kills whose pod uid has no namespace and pod name yet: the container logs "
        "that name it were not found (see docs/kubernetes-names.md).",
        columns=("host.name", "kubernetes.pod.uid", "container.id", "process.name"),
        query="kubernetes.pod.uid:* and not kubernetes.pod.name:*",
    ),
    SavedSearch(
        title="OOM kill — report text",
        description="The explanation, victims, top consumers and the kernel's own text.",
        columns=(
            "host.name",
            "oom.victims.name",
            "oom.top_consumers.name",
            "oom.top_consumers.rss_bytes",
            "oom.explanation",
            "event.original",
        ),
    ),
)

LINKS = LinksPanel(targets=(("Fleet overview", OVERVIEW), ("One kill in detail", DETAIL)))

USAGE_RATIO_RANGES = (
    (None, 0.5, "below 50%"),
    (0.5, 0.8, "50–80%"),
    (0.8, 0.9, "80–90%"),
    (0.9, 0.95, "90–95%"),
    (0.95, 0.99, "95–99%"),
    (0.99, 1.0, "99–100%"),
    (1.0, None, "at or over the limit"),
)


def _top(title: str, field: str, label: str, w: int = 16) -> LensPanel:
    return LensPanel(
        title=title,
        vis="bar_horizontal",
        buckets=(Terms(field, size=10, label=label),),
        metrics=(KILLS,),
        w=w,
        h=12,
        drilldown_to=DETAIL,
    )


OVERVIEW_DASHBOARD = Dashboard(
    title=OVERVIEW,
    description="OOM kills across the fleet: when, where, which limit, who died, who keeps dying.",
    panels=(
        LINKS,
        LensPanel("Kills", "metric", (KILLS,), w=12, h=6),
        LensPanel(
            "Processes killed",
            "metric",
            (Metric("sum", "oom.victims_count", "Processes killed"),),
            w=12,
            h=6,
        ),
        LensPanel(
            "Hosts with kills",
            "metric",
            (Metric("unique_count", "host.name", "Hosts"),),
            w=12,
            h=6,
        ),
        LensPanel(
            "Cgroups with kills",
            "metric",
            (Metric("unique_count", "oom.cgroup.task_path", "Cgroups"),),
            w=12,
            h=6,
        ),
        LensPanel(
            "Kills over time by scope",
            "bar_time",
            buckets=(DateHistogram(), Terms("oom.scope", size=5, label="Scope")),
            metrics=(KILLS,),
            w=32,
            h=14,
        ),
        LensPanel(
            "Which limit was hit",
            "donut",
            buckets=(Terms("oom.limit_hit", size=8, label="Limit hit"),),
            metrics=(KILLS,),
            w=16,
            h=14,
        ),
        _top("Top hosts", "host.name", "Host"),
        _top("Top victim processes", "oom.victims.name", "Victim"),
        LensPanel(
            "Usage of the limit at kill time",
            "bar_vertical",
            buckets=(Ranges("oom.usage_ratio", USAGE_RATIO_RANGES, "Usage / limit"),),
            metrics=(KILLS,),
            w=16,
            h=12,
            description="oom.usage_ratio: usage of the counter that hit its limit, over the limit.",
        ),
        _top("Top containers", "container.id", "Container"),
        _top("Top Kubernetes namespaces", "kubernetes.namespace", "Namespace"),
        LensPanel(
            "Top Kubernetes workloads",
            "table",
            buckets=(
                Terms("kubernetes.namespace", size=10, label="Namespace"),
                Terms("kubernetes.workload.kind", size=5, label="Kind"),
                Terms("kubernetes.workload.name", size=10, label="Workload"),
            ),
            metrics=(KILLS, Metric("unique_count", "kubernetes.pod.name", "Pods")),
            w=32,
            h=12,
            description="kubernetes.workload.rule says how each workload was recognised.",
            drilldown_to=DETAIL,
        ),
        _top("Top Kubernetes pods", "kubernetes.pod.name", "Pod"),
        _top("Top Kubernetes containers", "kubernetes.container.name", "Container"),
        SearchPanel(
            "OOM kills in pods not named yet", w=32, h=12, title="Pods not named yet (uid)"
        ),
        _top("Top systemd units", "systemd.unit", "Unit"),
        LensPanel(
            "Repeat offenders: kills per cgroup per day",
            "table",
            buckets=(
                Terms("oom.cgroup.task_path", size=20, label="Cgroup"),
                DateHistogram(interval="1d", label="Day"),
            ),
            metrics=(KILLS, Metric("unique_count", "host.name", "Hosts")),
            w=24,
            h=14,
            description="Rows with 2 or more kills: the same cgroup was killed again that day.",
            drilldown_to=DETAIL,
        ),
        LensPanel(
            "Recent kills",
            "table",
            buckets=(Terms("event.id", size=50, label="Event", order_by_metric=0),),
            metrics=(
                Metric("max", "@timestamp", "Time"),
                Metric("last_value", "host.name", "Host"),
                Metric("last_value", "process.name", "Victim"),
                Metric("last_value", "oom.limit_hit", "Limit hit"),
                Metric("max", "oom.usage_ratio", "Usage ratio", "percent"),
            ),
            w=24,
            h=14,
            description="Click an event id to open that kill in the detail dashboard.",
            drilldown_to=DETAIL,
        ),
    ),
)

# Every detail panel first narrows to one event: the newest kill the filters leave (a click
# on an event id in the overview, or a filter on event.id, picks which). Without this a
# panel would mix the maximum usage of one kill with the limit and victim of others.
TIME = Metric("max", "@timestamp", "Time")
ONE_KILL = Terms("event.id", size=1, label="Event", order_by_metric=0)
ONE_KILL_NOTE = "The newest kill the filters leave; filter on event.id for another."

DETAIL_DASHBOARD = Dashboard(
    title=DETAIL,
    description="One OOM kill (the newest the filters leave; filter on event.id): victim, "
    "trigger, memory figures, top consumers, explanation and the kernel's text.",
    time_from="now-30d",
    panels=(
        LINKS,
        LensPanel(
            "The kill shown",
            "table",
            buckets=(ONE_KILL,),
            metrics=(
                TIME,
                Metric("last_value", "host.name", "Host"),
                Metric("last_value", "process.name", "Victim"),
                Metric("max", "oom.victims_count", "Processes killed"),
                Metric("last_value", "oom.limit_hit", "Limit hit"),
                Metric("max", "oom.usage_ratio", "Usage of the limit", "percent"),
            ),
            w=48,
            h=6,
            description=ONE_KILL_NOTE,
        ),
        LensPanel(
            "Trigger",
            "table",
            buckets=(
                ONE_KILL,
                Terms("oom.trigger.name", size=5, label="Trigger"),
                Terms("oom.trigger.gfp_mask", size=5, label="gfp_mask"),
            ),
            metrics=(
                TIME,
                Metric("max", "oom.trigger.pid", "pid"),
                Metric("max", "oom.trigger.order", "order"),
                Metric("max", "oom.trigger.oom_score_adj", "oom_score_adj"),
            ),
            w=24,
            h=10,
            description=ONE_KILL_NOTE,
        ),
        LensPanel(
            "Memory figures",
            "table",
            buckets=(ONE_KILL, Terms("oom.scope", size=5, label="Scope")),
            metrics=(
                TIME,
                Metric("max", "oom.memory.usage_bytes", "memory usage", "bytes"),
                Metric("max", "oom.memory.limit_bytes", "memory limit", "bytes"),
                Metric("max", "oom.memsw.usage_bytes", "memory+swap usage", "bytes"),
                Metric("max", "oom.memsw.limit_bytes", "memory+swap limit", "bytes"),
                Metric("max", "oom.system.free_swap_bytes", "free swap", "bytes"),
            ),
            w=24,
            h=10,
            description=ONE_KILL_NOTE,
        ),
        LensPanel(
            "Victims",
            "table",
            buckets=(ONE_KILL, Terms("oom.victims.name", size=10, label="Victim")),
            metrics=(TIME,),
            w=24,
            h=10,
            description=ONE_KILL_NOTE,
        ),
        LensPanel(
            "Top memory consumers",
            "table",
            buckets=(ONE_KILL, Terms("oom.top_consumers.name", size=10, label="Process")),
            metrics=(TIME,),
            w=24,
            h=10,
            description=ONE_KILL_NOTE + " Per-process sizes are in the report text below "
            "(object arrays keep no pairing between name and size for aggregations).",
        ),
        SearchPanel("OOM kill — report text", w=48, h=18, title="Explanation and original text"),
    ),
)

DASHBOARDS = (OVERVIEW_DASHBOARD, DETAIL_DASHBOARD)
