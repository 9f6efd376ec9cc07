/**
 * The apiserver's side of a validating webhook (admission.k8s.io/v1): the
 * test API server's onValidate POSTs an AdmissionReview to the webhook's
 * /validate and maps its response back, as the real apiserver does for a
 * ValidatingWebhookConfiguration. A webhook that does not answer denies
 * (failurePolicy: Fail, as deploy/ registers it).
 */
import type { Validator } from '../kube/api-server.ts';

type Obj = Record<string, any>;

export function webhookValidator(url: string): Validator {
  let n = 0;
  return async ({ operation, object, oldObject, resource }) => {
    const request = {
      uid: `review-${++n}`,
      operation,
      kind: { group: resource.group, version: resource.version, kind: resource.kind },
      object,
      ...(oldObject && { oldObject }),
    };
    try {
      const res = await fetch(`${url}/validate`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        signal: AbortSignal.timeout(10_000),
        body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request }),
      });
      const { response } = (await res.json()) as Obj;
      if (response?.uid !== request.uid)
        return {
          allowed: false,
          message: `webhook answered review ${String(response?.uid)} for ${request.uid}`,
          code: 500,
        };
      return { allowed: response.allowed === true, message: response.status?.message, code: response.status?.code };
    } catch (err) {
      return {
        allowed: false,
        message: `failed calling webhook "${url}/validate": ${(err as Error).message}`,
        code: 500,
      };
    }
  };
}
