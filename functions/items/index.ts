import { lambdaHandler } from '../../shared/http/lambda.ts';
import { runFunction } from '../../shared/http/server.ts';
import { definition } from './routes.ts';

export { definition };

/** The Lambda entry (API Gateway events through @fastify/aws-lambda). */
export const handler = lambdaHandler(definition);

/** The server entry: the bundle's launcher calls it when node runs the bundle as its program. */
export const main = () => runFunction(definition);
