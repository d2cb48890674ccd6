// A service's subsets (label selectors) as the routing picker sends calls to them. Each
// balances on its own over the endpoints it selects — priorities, panic mode, standby tiers,
// probing endpoints, per-method rules and zones, as the whole service does — while the
// endpoints themselves (connection, health, ejection, slow start, EWMA) stay the service's:
// one endpoint in two subsets is one endpoint, ejected from both at once.
import type { BalancerConfig } from '../config/mesh-config.js';
import type { EndpointController } from './endpoint-controller.js';
import { WeightedPriorityPicker } from './picker.js';
import type { EndpointChooser } from './scheduler.js';
import type { TierSnapshot } from './snapshot.js';
import { methodRules, planTiers, whyUnusable } from './tiers.js';

/** What the routing picker knows of one subset. */
export interface SubsetTarget {
  /** Its own picker, while an endpoint of it is usable (or probing). */
  readonly picker: WeightedPriorityPicker | undefined;
  /** Nothing usable, but an endpoint is on its way (connecting, or waiting for its first health answer): calls wait, as for the whole service. */
  readonly waiting: boolean;
  /** Why nothing is usable, for the details of a call that fails ('' while something is). */
  readonly why: string;
}

/** One subset's plan, made at each rebuild of the picker. */
export interface SubsetPlan extends SubsetTarget {
  readonly name: string;
  readonly selector: Readonly<Record<string, string>>;
  /** The service's current endpoints it selects. */
  readonly members: readonly EndpointController[];
  /** The share its leaving endpoints take (make before break keeps them while a picker needs them). */
  readonly leavingLoad: number;
  readonly loads: readonly TierSnapshot[];
}

type Choose = (entries: Array<{ item: EndpointController; weight: number }>) => EndpointChooser<EndpointController>;

/** Whether an endpoint's labels meet a selector: every label it names, equal. */
export function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (labels === undefined) return false;
  for (const [key, value] of Object.entries(selector)) if (labels[key] !== value) return false;
  return true;
}

/** A selector in words: "version=v2, zone=eu-1a". */
export function describeSelector(selector: Readonly<Record<string, string>>): string {
  return Object.entries(selector)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
}

/**
 * The subset `name` of `all` (and of the `leaving` endpoints, which serve it as they serve the
 * service while their replacements come up), planned as planTiers plans the service.
 */
export function planSubset(
  name: string,
  selector: Readonly<Record<string, string>>,
  all: readonly EndpointController[],
  leaving: readonly EndpointController[],
  settings: BalancerConfig,
  now: number,
  choose: Choose,
  zone: string | undefined,
): SubsetPlan {
  const members = all.filter((e) => selects(selector, e.config.labels));
  const leavingMembers = leaving.filter((e) => selects(selector, e.config.labels));
  const plan = planTiers(members, settings, now, choose, leavingMembers, zone);
  const probing = members.filter((e) => e.probing);
  const base = { name, selector, members, leavingLoad: plan.leavingLoad, loads: plan.loads };
  if (plan.tiers.length > 0 || probing.length > 0) {
    const rules = methodRules(leavingMembers.length === 0 ? members : [...members, ...leavingMembers]);
    return { ...base, picker: new WeightedPriorityPicker(plan.tiers, probing, rules, plan.standby), waiting: false, why: '' };
  }
  const why = members.length === 0 ? `it selects no endpoint: ${describeSelector(selector)}` : whyUnusable(members);
  return { ...base, picker: undefined, waiting: members.some((e) => e.isComing(now)), why };
}
