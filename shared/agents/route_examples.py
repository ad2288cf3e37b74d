"""Labelled examples the offline router compares a question with (pt-BR, as customers write).

The router embeds them once and votes among the nearest; add examples here when `make eval`
shows a question routed wrong. Image, small talk and explicit requests for a human are decided
by rules before these are consulted.
"""

from __future__ import annotations

from typing import Final

from shared.agents.assistants import Route

__all__ = ["ROUTE_EXAMPLES"]

ROUTE_EXAMPLES: Final[tuple[tuple[Route, str], ...]] = (
    # Customer care: the store, payments at the till, the app, refunds, complaints.
    ("sac", "Qual o horário de funcionamento do mercado?"),
    ("sac", "vocês aceitam pix no caixa?"),
    ("sac", "dá pra pagar com cartão de débito?"),
    ("sac", "como faço para trocar um produto vencido?"),
    ("sac", "me cobraram duas vezes a mesma compra"),
    ("sac", "não consigo entrar no aplicativo"),
    ("sac", "como faço meu cadastro no app?"),
    ("sac", "o totem de autoatendimento não está funcionando"),
    ("sac", "quero fazer uma reclamação do atendimento"),
    ("sac", "tem promoção essa semana?"),
    ("sac", "como cancelo minha conta?"),
    ("sac", "a porta da loja não abre com o qr code"),
    ("sac", "posso pedir nota fiscal da compra?"),
    ("sac", "vocês vendem bebida alcoólica?"),
    # Franchisee support: running a franchised store.
    ("saf", "como faço o pedido de reposição de estoque da minha loja?"),
    ("saf", "sou franqueado e o sistema do caixa travou"),
    ("saf", "quando cai o repasse das vendas da minha unidade?"),
    ("saf", "como registro perdas e furtos no sistema?"),
    ("saf", "preciso de treinamento para o novo funcionário da franquia"),
    ("saf", "qual a taxa de royalties do contrato de franquia?"),
    ("saf", "a geladeira da minha loja parou de funcionar, quem faz a manutenção?"),
    ("saf", "como altero o preço de um produto no sistema da loja?"),
    ("saf", "quero abrir uma segunda unidade franqueada"),
    ("saf", "o relatório de vendas da minha loja não carrega"),
    ("saf", "como faço o inventário mensal?"),
    # Billing: a debt, a payment slip, a PIX code, an agreement.
    ("billing", "preciso da segunda via do boleto"),
    ("billing", "me manda o código pix para pagar a fatura"),
    ("billing", "quanto eu devo?"),
    ("billing", "recebi uma cobrança, é golpe?"),
    ("billing", "quero parcelar minha dívida"),
    ("billing", "já paguei o boleto e continuo recebendo cobrança"),
    ("billing", "posso negociar um desconto para quitar o débito?"),
    ("billing", "vou pagar semana que vem, pode ser?"),
    ("billing", "qual a linha digitável do meu boleto?"),
    ("billing", "meu boleto venceu, como atualizo?"),
    ("billing", "não reconheço essa dívida"),
    # Data: an order, a delivery, a store's address.
    ("data", "qual o status do meu pedido?"),
    ("data", "meu pedido ainda não chegou"),
    ("data", "quando chega minha entrega?"),
    ("data", "quero rastrear minha compra"),
    ("data", "onde fica a loja mais próxima em Campinas?"),
    ("data", "qual o endereço da unidade de Curitiba?"),
    ("data", "tem loja de vocês no Rio de Janeiro?"),
    ("data", "o pedido que fiz pelo app foi enviado?"),
    ("data", "qual o horário da loja do centro de Belo Horizonte?"),
    # Someone to talk to.
    ("human", "quero falar com um atendente"),
    ("human", "me passa para uma pessoa de verdade"),
    ("human", "não quero falar com robô"),
    ("human", "preciso de atendimento humano"),
    # Out of scope.
    ("out_of_scope", "qual a previsão do tempo para amanhã?"),
    ("out_of_scope", "me conta uma piada"),
    ("out_of_scope", "quem ganhou o jogo ontem?"),
    ("out_of_scope", "escreve um poema de amor"),
    ("out_of_scope", "qual a capital da Austrália?"),
    ("out_of_scope", "me ajuda com minha lição de matemática"),
    ("out_of_scope", "qual série você recomenda na netflix?"),
    ("out_of_scope", "qual a cotação do euro hoje?"),
    ("out_of_scope", "escreve um email formal pro meu chefe"),
    ("out_of_scope", "como faço um pudim de leite?"),
    ("out_of_scope", "quem vai ganhar a eleição?"),
    ("out_of_scope", "traduz essa frase para o inglês"),
)
