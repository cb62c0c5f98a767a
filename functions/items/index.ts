import { lambdaHandler } from '../../shared/http/lambda.ts';
import { isMain, runFunction } from '../../shared/http/server.ts';
import { definition } from './routes.ts';

export const handler = lambdaHandler(definition);

if (isMain(import.meta.url)) await runFunction(definition);
