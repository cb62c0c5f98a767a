export declare const RULES_FILE: string;
export declare const PROMETHEUS_RULE_FILE: string;
/** The PrometheusRule manifest (YAML text) embedding the groups of a rules file's text. */
export declare function renderPrometheusRule(rulesText: string): string;
