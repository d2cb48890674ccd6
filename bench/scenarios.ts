// The fault scenarios: what is done to the backends, and how it is undone.
import type { Supervisor } from '../examples/supervisor.js';

export const SCENARIOS = ['kill', 'hang', 'drain', 'errors', 'slow', 'outage'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  /** Starts the fault. `faultMs` is how long it will last. */
  apply(supervisor: Supervisor, faultMs: number): void;
  /** Ends it; resolves when the backends are back (a killed one restarted and listening). */
  heal(supervisor: Supervisor): Promise<void>;
}

const restarted = (supervisor: Supervisor, names: readonly string[]) =>
  Promise.all(
    names.map(
      (name) =>
        new Promise<void>((resolve) => {
          if (supervisor.state(name) === 'running') return resolve();
          const dispose = supervisor.onEvent((event) => {
            if (event.kind === 'started' && event.name === name) {
              dispose();
              resolve();
            }
          });
        }),
    ),
  ).then(() => undefined);

export const scenarios: Record<ScenarioName, Scenario> = {
  kill: {
    name: 'kill',
    description: 'ServiceA killed (SIGKILL), restarted by the supervisor when the fault ends',
    apply: (s, faultMs) => s.kill('ServiceA', faultMs),
    heal: (s) => restarted(s, ['ServiceA']),
  },
  hang: {
    name: 'hang',
    description: 'ServiceA hung (SIGSTOP): connections open, nothing answered; SIGCONT to heal',
    apply: (s) => s.pause('ServiceA'),
    heal: async (s) => s.resume('ServiceA'),
  },
  drain: {
    name: 'drain',
    description: 'ServiceA reports NOT_SERVING (still answers calls); SERVING to heal',
    apply: (s) => s.send('ServiceA', { type: 'health', status: 'NOT_SERVING' }),
    heal: async (s) => s.send('ServiceA', { type: 'health', status: 'SERVING' }),
  },
  errors: {
    name: 'errors',
    description: 'ServiceA fails every call with UNAVAILABLE while its health says SERVING',
    apply: (s) => s.send('ServiceA', { type: 'faults', failRate: 1 }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', failRate: 0 }),
  },
  slow: {
    name: 'slow',
    description: 'ServiceA answers 200 ms late',
    apply: (s) => s.send('ServiceA', { type: 'faults', latencyMs: 200 }),
    heal: async (s) => s.send('ServiceA', { type: 'faults', latencyMs: 0 }),
  },
  outage: {
    name: 'outage',
    description: 'both backends killed; restarted when the fault ends',
    apply: (s, faultMs) => {
      s.kill('ServiceA', faultMs);
      s.kill('ServiceB', faultMs);
    },
    heal: (s) => restarted(s, ['ServiceA', 'ServiceB']),
  },
};
