"""What a config entry becomes when it cannot be served as given, and why.

- A deployment whose credentials are not there (its ``api_key`` variable, or the provider's
  default variable, unset; a ``vertex_credentials`` file that cannot be read) is built
  *unconfigured*: a warning at startup, the rest of the config serves, and the model group
  answers 503 ``deployment_unconfigured`` when it has nothing else (see
  :class:`pllm.routing.groups.ModelRegistry`; the router never picks such a deployment).
- A LiteLLM provider pllm does not have (``sagemaker/``, ``cohere/``, …) is a warning
  that skips the entry; an unknown provider that is none of LiteLLM's is an error.
- ``model_info.mode`` narrows the endpoints a deployment serves; a mode pllm serves no
  endpoint for (``image_generation``, ``audio_transcription``, ``rerank``, …) skips the entry
  with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from pllm.config.problems import Problem
from pllm.errors import GatewayError
from pllm.providers.codec import Answer, Endpoint, Outgoing

# LiteLLM's provider prefixes (its LlmProviders) that pllm has no codec for: an entry naming
# one is skipped with a warning, so that a LiteLLM config still loads.
LITELLM_PROVIDERS = frozenset(
    {
        "bedrock",
        "sagemaker",
        "sagemaker_chat",
        "cohere",
        "cohere_chat",
        "huggingface",
        "replicate",
        "ai21",
        "ai21_chat",
        "nlp_cloud",
        "aleph_alpha",
        "petals",
        "palm",
        "vertex_ai_beta",
        "watsonx",
        "watsonx_text",
        "databricks",
        "cloudflare",
        "predibase",
        "triton",
        "clarifai",
        "voyage",
        "jina_ai",
        "infinity",
        "text-completion-openai",
        "text-completion-codestral",
        "codestral",
        "custom_openai",
        "openai_like",
        "azure_text",
        "friendliai",
        "github",
        "github_copilot",
        "sambanova",
        "nscale",
        "novita",
        "featherless_ai",
        "nebius",
        "dashscope",
        "moonshot",
        "volcengine",
        "zai",
        "minimax",
        "lambda_ai",
        "hyperbolic",
        "galadriel",
        "baseten",
        "anyscale",
        "empower",
        "llamafile",
        "litellm_proxy",
        "topaz",
        "assemblyai",
        "elevenlabs",
        "deepgram",
        "fal_ai",
        "stability",
        "recraft",
        "aiml",
        "meta_llama",
        "datarobot",
        "snowflake",
        "oci",
        "gradient_ai",
        "heroku",
        "cometapi",
        "oobabooga",
        "maritalk",
        "xinference",
        "bytez",
        "lemonade",
        "vercel_ai_gateway",
        "wandb",
        "ovhcloud",
        "langgraph",
        "custom",
    }
)

# The litellm_params a credential is given by: a problem with one of these, and only such
# problems, leaves the deployment unconfigured instead of refusing the config.
CREDENTIAL_PARAMS = frozenset(
    {
        "api_key",
        "vertex_credentials",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
    }
)

_CHAT_MODES = frozenset({"chat", "completion", "responses"})
_NON_EMBEDDING = frozenset(Endpoint) - {Endpoint.EMBEDDINGS}


def is_credential_problem(problem: Problem) -> bool:
    return problem.path.rsplit(".", 1)[-1] in CREDENTIAL_PARAMS


def mode_endpoints(mode: str | None) -> frozenset[Endpoint]:
    """The endpoints a deployment of ``model_info.mode`` may serve (None: any)."""
    if mode is None:
        return frozenset(Endpoint)
    if mode in _CHAT_MODES:
        return _NON_EMBEDDING
    if mode == "embedding":
        return frozenset({Endpoint.EMBEDDINGS})
    return frozenset()


def unconfigured_error(model: str) -> GatewayError:
    """What a request for a model group with no configured deployment gets. The variable
    that is missing is named in the startup warning, not to clients."""
    return GatewayError(
        503,
        f"The model `{model}` is configured on this gateway, but not its credentials: "
        "no deployment of it can be called until they are set.",
        param="model",
        code="deployment_unconfigured",
    )


@dataclass(frozen=True, slots=True)
class Unconfigured:
    """The target of an unconfigured deployment (a :class:`LocalTarget` that refuses)."""

    reason: str

    async def answer(self, out: Outgoing, request_id: str) -> Answer:
        raise unconfigured_error(out.model)
