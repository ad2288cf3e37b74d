"""Customer-facing texts and the language model's prompts (Brazilian Portuguese), versioned.

`prompt_version(assistant)` is a digest of every prompt an assistant's graph may send, so each
turn records exactly which wording produced it. These constants are the built-in defaults
(`default_prompt_set`); versions edited and published in the console (shared.domain.prompts)
replace them per assistant and are recorded as `sac@v3`.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Final

from shared.agents.assistants import AssistantProfile, profile_for
from shared.domain.prompts import PromptSet

__all__ = [
    "ACK_REPLY",
    "ASK_DAY_REPLY",
    "ASK_ORDER_NUMBER",
    "CLOSE_REPLY",
    "COLLECTION_TEXTS",
    "DRAFT_PROMPTS",
    "GREETING_REPLY",
    "INSTALMENTS_ACCEPTED_REPLY",
    "INSTALMENTS_MOST_REPLY",
    "INSTALMENTS_OFFER_REPLY",
    "NO_INSTALMENTS_REPLY",
    "OPT_OUT_REPLY",
    "PROMISE_REPLY",
    "REWRITE_PROMPT",
    "ROUTE_PROMPT",
    "SUMMARIZE_PROMPT",
    "THANKS_REPLY",
    "UNREADABLE_REPLY",
    "VERIFY_PROMPT",
    "default_prompt_set",
    "out_of_scope_reply",
    "prompt_version",
    "render",
    "system_prompt",
]

GREETING_REPLY = "Olá! Sou a assistente virtual. Como posso ajudar você hoje?"
THANKS_REPLY = "Por nada! Se precisar de mais alguma coisa, é só chamar."
ACK_REPLY = "Combinado! Se precisar de mais alguma coisa, é só chamar."
CLOSE_REPLY = "Que bom que pude ajudar! Vou encerrar este atendimento; é só chamar quando precisar."
UNREADABLE_REPLY = (
    "Desculpe, não consegui ver o conteúdo da sua mensagem. "
    "Pode escrever sua dúvida em texto, por favor?"
)
ASK_ORDER_NUMBER = "Pode me informar o número do pedido? Ele aparece no comprovante e no app."

# The billing agent's fixed replies to debtors (shared.agents.debt_collection); `{...}` are
# filled with the promised day and the computed amounts.
OPT_OUT_REPLY: Final = (
    "Pronto! Você não vai mais receber nossas mensagens de cobrança por aqui. Se precisar da "
    "segunda via, do código PIX ou quiser negociar, é só escrever nesta conversa."
)
PROMISE_REPLY: Final = (
    "Combinado! Registrei que você vai pagar em {day}. Até lá, pausamos os lembretes de "
    "cobrança. Se precisar da segunda via ou do código PIX, é só pedir aqui."
)
ASK_DAY_REPLY: Final = (
    "Certo! Para eu registrar, em que dia você consegue pagar? Pode me dizer a data ou o dia "
    "da semana."
)
INSTALMENTS_OFFER_REPLY: Final = (
    "Dá para parcelar o total em aberto de {total} em até {most} vezes de {value}. "
    "Em quantas vezes você prefere?"
)
INSTALMENTS_MOST_REPLY: Final = (
    "Para o total em aberto de {total}, consigo parcelar em no máximo {most} vezes de {value}. "
    "Quer parcelar em {most} vezes?"
)
INSTALMENTS_ACCEPTED_REPLY: Final = (
    "Combinado: {count} vezes de {value}, total de {total}. Um analista vai emitir os {count} "
    "boletos e enviá-los aqui nesta conversa."
)
NO_INSTALMENTS_REPLY: Final = (
    "Para o total em aberto de {total}, não é possível parcelar: cada parcela precisa ser de "
    "pelo menos {minimum}. Se preferir, me diga em que dia consegue pagar, que eu registro aqui."
)
# All of them: the prompt version of an assistant that collects debts covers them.
COLLECTION_TEXTS: Final = (
    OPT_OUT_REPLY,
    PROMISE_REPLY,
    ASK_DAY_REPLY,
    INSTALMENTS_OFFER_REPLY,
    INSTALMENTS_MOST_REPLY,
    INSTALMENTS_ACCEPTED_REPLY,
    NO_INSTALMENTS_REPLY,
)


# Templates: `{display_name}` and `{scope}` are the assistant's (see `render`).
_OUT_OF_SCOPE: Final = (
    "Desculpe, não consigo ajudar com esse assunto. Aqui no {display_name} "
    "posso ajudar com {scope}."
)
_SYSTEM: Final = (
    "Você é a assistente virtual de {display_name} de uma rede de mercados "
    "autônomos franqueados, no WhatsApp. Assuntos: {scope}. Responda em "
    "português do Brasil, com frases curtas e cordiais. Nunca invente números, datas, "
    "valores, prazos ou status: use apenas o que as fontes dizem."
)


def render(template: str, profile: AssistantProfile) -> str:
    """A template with the assistant's display name and scope filled in."""
    return template.format(display_name=profile.display_name, scope=profile.scope)


def out_of_scope_reply(profile: AssistantProfile) -> str:
    """What the assistant says to a question outside its subjects."""
    return render(_OUT_OF_SCOPE, profile)


def system_prompt(profile: AssistantProfile) -> str:
    """The system prompt every step of an assistant starts from."""
    return render(_SYSTEM, profile)


REWRITE_PROMPT: Final = (
    "Reescreva as mensagens pendentes do cliente como UMA pergunta autocontida, usando o "
    "histórico para resolver referências ('ele', 'esse pedido'). Inclua números de pedido e "
    "o que a imagem mostrou, se houver. Sem saudações. Se houver várias perguntas, coloque "
    "cada uma em uma linha."
)

ROUTE_PROMPT: Final = (
    "Escolha o especialista para a pergunta. Rotas: sac (dúvidas de clientes sobre lojas, "
    "pagamento no caixa, app, trocas, reclamações), saf (franqueados: operação da loja, "
    "estoque, sistema, repasses, contrato), billing (cobrança: boleto, PIX, segunda via, "
    "dívida, acordo), image (o cliente enviou uma imagem), data (status de pedido, entrega, "
    "endereço de loja), small_talk (apenas saudação ou agradecimento), human (pede um "
    "atendente humano), out_of_scope (assunto fora do negócio). Responda em JSON."
)

DRAFT_PROMPTS: Final = {
    "knowledge": (
        "Responda à pergunta usando SOMENTE as entradas da base de conhecimento abaixo. Se "
        "nenhuma responde, devolva can_answer=false e answer vazio. Não acrescente fatos."
    ),
    "data": (
        "Responda usando SOMENTE os resultados das ferramentas abaixo (pedidos, lojas). "
        "Cite o número do pedido, o status e a previsão como estão. Se o resultado não "
        "responde, devolva can_answer=false."
    ),
    "billing": (
        "Você é o agente de cobrança. Use SOMENTE as faturas retornadas pela ferramenta e as "
        "entradas da base. Para segunda via, envie valor, vencimento, linha digitável, PIX "
        "e link exatamente como vieram. Não ofereça descontos ou parcelas que as fontes não "
        "prevejam. Contestação ou dúvida fora das fontes: can_answer=false."
    ),
    "image": (
        "O cliente enviou uma imagem; o texto lido dela e os resultados das ferramentas "
        "estão abaixo. Responda com o que eles dizem; se não bastam, can_answer=false."
    ),
}

VERIFY_PROMPT: Final = (
    "Verifique se a resposta proposta é totalmente apoiada pelas fontes: cada número, data, "
    "valor, prazo e status deve aparecer nelas, e a resposta deve tratar da pergunta. "
    "Responda supported=true ou false e liste os problemas."
)

SUMMARIZE_PROMPT: Final = (
    "A conversa vai para um analista humano. Escreva o cartão: category (uma palavra, ex. "
    "pagamento, entrega, cadastro, cobranca, franquia) e summary (2 a 3 frases: o que o "
    "cliente quer, o que a imagem mostrou, o que já foi tentado)."
)


def prompt_version(assistant: str) -> str:
    """A short digest of every prompt and fixed reply the assistant's graph uses."""
    profile = profile_for(assistant)
    texts = [
        system_prompt(profile),
        REWRITE_PROMPT,
        ROUTE_PROMPT,
        *(DRAFT_PROMPTS[k] for k in sorted(DRAFT_PROMPTS)),
        VERIFY_PROMPT,
        SUMMARIZE_PROMPT,
        GREETING_REPLY,
        THANKS_REPLY,
        ACK_REPLY,
        CLOSE_REPLY,
        UNREADABLE_REPLY,
        ASK_ORDER_NUMBER,
        out_of_scope_reply(profile),
        *(COLLECTION_TEXTS if profile.collects_debts else ()),
    ]
    digest = hashlib.sha256("\n\x00".join(texts).encode()).hexdigest()[:10]
    return f"{profile.name}@{digest}"


@lru_cache(maxsize=64)
def default_prompt_set(assistant: str) -> PromptSet:
    """The built-in texts (the constants above); their version is the digest."""
    return PromptSet(
        version=prompt_version(assistant),
        system=_SYSTEM,
        rewrite=REWRITE_PROMPT,
        route=ROUTE_PROMPT,
        verify=VERIFY_PROMPT,
        summarize=SUMMARIZE_PROMPT,
        draft_knowledge=DRAFT_PROMPTS["knowledge"],
        draft_data=DRAFT_PROMPTS["data"],
        draft_billing=DRAFT_PROMPTS["billing"],
        draft_image=DRAFT_PROMPTS["image"],
        greeting=GREETING_REPLY,
        thanks=THANKS_REPLY,
        ack=ACK_REPLY,
        close=CLOSE_REPLY,
        unreadable=UNREADABLE_REPLY,
        ask_order_number=ASK_ORDER_NUMBER,
        out_of_scope=_OUT_OF_SCOPE,
    )
