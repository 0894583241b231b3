import CoreMetrics
import Prometheus

/// A swift-metrics factory that registers every instrument in one Prometheus registry,
/// with the help text and buckets `MetricCatalog` gives its name (so `/metrics` has a
/// `# HELP` line for each, as `promtool check metrics` asks). Names not in the catalog
/// (a library's own metrics) get no help text and swift-prometheus's default buckets.
public struct PrometheusExport: MetricsFactory {
    public let registry: PrometheusCollectorRegistry
    private let fallback: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.fallback = PrometheusMetricsFactory(registry: registry)
    }

    /// The text exposition format (version 0.0.4), as `/metrics` serves it.
    public func exposition() -> String {
        registry.emitToString()
    }

    private func descriptor(_ label: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: label, unitName: "", helpText: MetricCatalog.byName[label]?.help ?? "")
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(descriptor: descriptor(label), labels: dimensions) }
        var buckets = fallback.defaultValueHistogramBuckets
        if case .valueHistogram(let catalogued)? = MetricCatalog.byName[label]?.kind { buckets = catalogued }
        return registry.makeValueHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        var buckets = fallback.defaultDurationHistogramBuckets
        if case .durationHistogram(let catalogued)? = MetricCatalog.byName[label]?.kind { buckets = catalogued }
        return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
    }

    public func destroyCounter(_ handler: any CounterHandler) { fallback.destroyCounter(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { fallback.destroyFloatingPointCounter(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { fallback.destroyRecorder(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { fallback.destroyMeter(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { fallback.destroyTimer(handler) }
}
