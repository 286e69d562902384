import React from 'react';
import { Badge, Tooltip, type BadgeColor } from '@grafana/ui';
import type { Condition } from '../api/types';

export function conditionColor(status: Condition['status']): BadgeColor {
  switch (status) {
    case 'True':
      return 'green';
    case 'False':
      return 'red';
    default:
      return 'orange';
  }
}

function conditionIcon(status: Condition['status']) {
  switch (status) {
    case 'True':
      return 'check' as const;
    case 'False':
      return 'exclamation-triangle' as const;
    default:
      return 'question-circle' as const;
  }
}

export function conditionSummary(c: Condition): string {
  const parts = [`${c.type}=${c.status}`];
  if (c.reason) {
    parts.push(c.reason);
  }
  if (c.message) {
    parts.push(c.message);
  }
  return parts.join(' — ');
}

/**
 * One badge per condition, its text naming type and status; the tooltip (also reachable by
 * keyboard focus) carries reason and message. Not a live region: a list of hundreds of rows
 * polled every few seconds must not announce every badge.
 */
export function ConditionBadges({ conditions }: { conditions?: Condition[] }) {
  if (!conditions || conditions.length === 0) {
    return <Badge text="Pending" color="darkgrey" icon="clock-nine" />;
  }
  return (
    <span style={{ display: 'inline-flex', gap: 4, flexWrap: 'wrap' }}>
      {conditions.map((c) => (
        <Tooltip key={c.type} content={conditionSummary(c)} placement="top">
          <span
            tabIndex={0}
            role="img"
            aria-label={conditionSummary(c)}
            data-testid={`condition-${c.type}`}
            data-status={c.status}
          >
            <Badge text={`${c.type}: ${c.status}`} color={conditionColor(c.status)} icon={conditionIcon(c.status)} />
            {c.status !== 'True' && c.reason && (
              // What is wrong is said inline, not only in the tooltip.
              <span data-testid={`condition-reason-${c.type}`} style={{ marginLeft: 4, fontSize: '0.85em' }}>
                {c.reason}
              </span>
            )}
          </span>
        </Tooltip>
      ))}
    </span>
  );
}
