/**
 * Building blocks shared by the dashboards: the template variables, the datasource reference,
 * label selectors and small panel factories that always set a unit, a datasource and refIds.
 * Each dashboard file then reads as a list of panels and their PromQL.
 */
import * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

import { SCRAPE_JOB } from './metrics';

/** The uid of the provisioned Prometheus datasource (grafana/provisioning/datasources). */
export const PROMETHEUS_DATASOURCE_UID = 'prometheus';
/** The uid of the provisioned Tempo datasource that exemplar links open. */
export const TEMPO_DATASOURCE_UID = 'tempo';

/** Every panel and query points at the dashboard's `datasource` variable. */
export const DATASOURCE: common.DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/** Label matchers for the job and instance variables (every query has them). */
export const TARGET = 'job=~"$job", instance=~"$instance"';
/** Label matchers for pool series: job, instance and the pool variable. */
export const POOL = `${TARGET}, pool=~"$pool"`;

/** The metric every pool exposes from start-up on, used to list jobs, instances and pools. */
const DISCOVERY_METRIC = 'db_client_connections_max';

function queryVariable(name: string, label: string, query: string): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(name)
    .label(label)
    .datasource(DATASOURCE)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

/** The template variables, in display order. `withPool` adds the pool selector. */
export function variables(withPool: boolean): Array<cog.Builder<dashboard.VariableModel>> {
  const list: Array<cog.Builder<dashboard.VariableModel>> = [
    new dashboard.DatasourceVariableBuilder('datasource')
      .label('Data source')
      .type('prometheus')
      .current({ text: 'Prometheus', value: PROMETHEUS_DATASOURCE_UID }),
    queryVariable('job', 'Job', `label_values(${DISCOVERY_METRIC}, job)`).current({
      text: SCRAPE_JOB,
      value: SCRAPE_JOB,
    }),
    queryVariable('instance', 'Instance', `label_values(${DISCOVERY_METRIC}{job=~"$job"}, instance)`)
      .multi(true)
      .includeAll(true)
      .allValue('.+')
      .current({ text: 'All', value: '$__all' }),
  ];
  if (withPool) {
    list.push(
      queryVariable('pool', 'Pool', `label_values(${DISCOVERY_METRIC}{${TARGET}}, pool)`)
        .multi(true)
        .includeAll(true)
        .allValue('.+')
        .current({ text: 'All', value: '$__all' }),
    );
  }
  return list;
}

/** Hands out panel ids and query refIds in order, so the generated JSON is stable. */
export class Ids {
  #next = 1;
  next(): number {
    return this.#next++;
  }
}

/** A Prometheus range query against the dashboard datasource. */
export interface Query {
  expr: string;
  legend: string;
  /** Ask for exemplars (latency panels: they link to the trace in Tempo). */
  exemplar?: boolean;
  /** `heatmap` for bucket queries shown as a heatmap. */
  format?: prometheus.PromQueryFormat;
  /** Instant query (stat panels showing the current value). */
  instant?: boolean;
}

function target(q: Query, index: number): prometheus.DataqueryBuilder {
  const b = new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE)
    .refId(String.fromCharCode(65 + index))
    .editorMode(prometheus.QueryEditorMode.Code)
    .expr(q.expr)
    .legendFormat(q.legend)
    .exemplar(q.exemplar ?? false);
  if (q.format) b.format(q.format);
  if (q.instant) b.instant();
  else b.range();
  return b;
}

/** Layout and documentation common to every panel. */
export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  /** Grid width (of 24). */
  width?: number;
  height?: number;
}

export interface TimeseriesSpec extends PanelSpec {
  min?: number;
  max?: number;
  stacked?: boolean;
  /** Draw as bars (counts per interval). */
  bars?: boolean;
  /** Thresholds drawn as dashed lines (e.g. the 80 % hit-rate floor). */
  thresholds?: dashboard.Threshold[];
}

function thresholdsOf(steps: dashboard.Threshold[]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

/** Default: a single green step (no threshold colouring). */
const NO_THRESHOLDS: dashboard.Threshold[] = [{ value: null, color: 'green' }];

export function timeseriesPanel(ids: Ids, spec: TimeseriesSpec): timeseries.PanelBuilder {
  const b = new timeseries.PanelBuilder()
    .id(ids.next())
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .lineWidth(1)
    .fillOpacity(spec.stacked || spec.bars ? 60 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false)
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(
      new common.VizTooltipOptionsBuilder()
        .mode(common.TooltipDisplayMode.Multi)
        .sort(common.SortOrder.Descending),
    )
    .thresholds(thresholdsOf(spec.thresholds ?? NO_THRESHOLDS));
  if (spec.thresholds) {
    b.thresholdsStyle(
      new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed),
    );
  }
  if (spec.min !== undefined) b.min(spec.min);
  if (spec.max !== undefined) b.max(spec.max);
  if (spec.stacked) b.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (spec.bars) b.drawStyle(common.GraphDrawStyle.Bars);
  spec.queries.forEach((q, i) => b.withTarget(target(q, i)));
  return b;
}

export interface StatSpec extends PanelSpec {
  thresholds?: dashboard.Threshold[];
  mappings?: dashboard.ValueMapping[];
  decimals?: number;
}

export function statPanel(ids: Ids, spec: StatSpec): stat.PanelBuilder {
  const b = new stat.PanelBuilder()
    .id(ids.next())
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 6)
    .height(spec.height ?? 4)
    .graphMode(common.BigValueGraphMode.Area)
    .colorMode(common.BigValueColorMode.Value)
    .textMode(common.BigValueTextMode.ValueAndName)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(thresholdsOf(spec.thresholds ?? NO_THRESHOLDS));
  if (spec.mappings) b.mappings(spec.mappings);
  if (spec.decimals !== undefined) b.decimals(spec.decimals);
  spec.queries.forEach((q, i) => b.withTarget(target(q, i)));
  return b;
}

/**
 * A heatmap of a Prometheus histogram: `sum by (le) (rate(x_bucket[$__rate_interval]))` in
 * heatmap format, so Grafana uses the exposed buckets instead of re-bucketing.
 */
export function heatmapPanel(ids: Ids, spec: PanelSpec): heatmap.PanelBuilder {
  const b = new heatmap.PanelBuilder()
    .id(ids.next())
    .title(spec.title)
    .description(spec.description)
    .datasource(DATASOURCE)
    .unit(spec.unit)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(spec.unit).axisPlacement(common.AxisPlacement.Left))
    .cellValues(new heatmap.CellValuesBuilder().unit('short'))
    .color(
      new heatmap.HeatmapColorOptionsBuilder()
        .mode(heatmap.HeatmapColorMode.Scheme)
        .scheme('Spectral')
        .scale(heatmap.HeatmapColorScale.Exponential)
        .exponent(0.5)
        .steps(64)
        .fill('dark-orange')
        .reverse(false),
    )
    .tooltip(new heatmap.HeatmapTooltipBuilder().mode(common.TooltipDisplayMode.Single).yHistogram(true))
    .exemplarsColor('rgba(255,0,255,0.7)');
  spec.queries.forEach((q, i) =>
    b.withTarget(target({ format: prometheus.PromQueryFormat.Heatmap, ...q }, i)),
  );
  return b;
}

/** A full-width row title. */
export function row(ids: Ids, title: string): dashboard.RowBuilder {
  return new dashboard.RowBuilder(title).id(ids.next()).collapsed(false);
}

/** `histogram_quantile(q, sum by (le, <by>) (rate(<histogram>_bucket{<selector>}[$__rate_interval])))`. */
export function quantile(q: number, histogram: string, selector: string, by: string[]): string {
  const groups = ['le', ...by].join(', ');
  return `histogram_quantile(${q}, sum by (${groups}) (rate(${histogram}_bucket{${selector}}[$__rate_interval])))`;
}

/** Three queries: p50, p95 and p99 of a histogram, grouped by `by`, with exemplars. */
export function percentiles(histogram: string, selector: string, by: string[]): Query[] {
  const prefix = by.map((l) => `{{${l}}}`).join(' ');
  return [0.5, 0.95, 0.99].map((q) => ({
    expr: quantile(q, histogram, selector, by),
    legend: `${prefix}${prefix ? ' ' : ''}p${Math.round(q * 100)}`,
    exemplar: true,
  }));
}

/** The common dashboard settings. */
export function dashboardBase(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['bookswriter', 'bookswriter-data', 'generated'])
    .editable()
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .refresh('30s')
    .timepicker(new dashboard.TimePickerBuilder().refreshIntervals(['10s', '30s', '1m', '5m', '15m', '1h']))
    .link(
      new dashboard.DashboardLinkBuilder('BooksWriter dashboards')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags(['bookswriter-data'])
        .asDropdown(false)
        .includeVars(true)
        .keepTime(true),
    );
}

/**
 * Last touches on a built dashboard. The SDK defaults dashboard links to the "controls menu"
 * placement (a dropdown in recent Grafana); we want the link visible in the dashboard header.
 */
export function finalize(d: dashboard.Dashboard): dashboard.Dashboard {
  for (const link of d.links ?? []) delete link.placement;
  return d;
}
